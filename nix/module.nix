# balloond as a NixOS module: services.balloond.
#
# What an incident host (NixOS, KVM guests, ZFS, Patroni) writes in its
# configuration.nix, with the flake's nixosModules.default (or this file)
# in `imports`:
#
#   services.balloond = {
#     enable = true;
#     # Patroni's callback runs as Patroni's user: its group may send role
#     # changes over balloond's socket, and nothing else.
#     roleGroup = config.services.patroni.group;
#     settings = {
#       daemon.log_level = "info";
#       # The ZFS ARC: balloond keeps zfs_arc_max at MemTotal minus the
#       # guests' targets minus [host] reserve, never below arc_min, so
#       # that the ARC gives memory back before the guests need it.
#       host.arc_manage = true;
#       host.arc_min = "4G";
#       # Patroni's REST API, so that only confirmed streaming replicas
#       # shrink; the section name is "cluster " and Patroni's scope.
#       "cluster pg".rest_urls = "http://10.0.0.11:8008 http://10.0.0.12:8008";
#     };
#   };
#   # The ARC's cap from boot, before balloond runs (bytes): without it
#   # the ARC may take half the RAM before balloond's first write.
#   boot.kernelParams = [ "zfs.zfs_arc_max=${toString (8 * 1024 * 1024 * 1024)}" ];
#
#   # Patroni pushes every role change to balloond at once, and asks it to
#   # grow a replica before promoting it (balloond-patroni(8)).
#   services.patroni.settings.postgresql = {
#     callbacks.on_role_change = "${config.services.balloond.package}/bin/balloond-patroni --member pg1";
#     callbacks.on_start = "${config.services.balloond.package}/bin/balloond-patroni --member pg1";
#     pre_promote = "${config.services.balloond.package}/bin/balloond-patroni --pre-promote --cluster pg --member pg1 --wait-ms 2000";
#   };
#
# Guests are libvirt domains carrying balloond's metadata: with
# virtualisation.libvirtd.enable the module installs the qemu hook that
# registers them as they start (balloond-libvirt(7); `balloonctl enable
# DOMAIN` marks one). The daemon's unit, with its hardening, is the one
# the package ships (systemd/balloond.service.in), so there is one copy of
# it; this module only adds what NixOS needs on top.
{
  config,
  lib,
  pkgs,
  ...
}:

let
  cfg = config.services.balloond;
  settingsFormat = pkgs.formats.ini { };
  libvirtd = config.virtualisation.libvirtd;
  # QEMU's user under NixOS's libvirtd: root unless qemu.runAsRoot is off.
  qemuUser = if libvirtd.qemu.runAsRoot then "root" else "qemu-libvirtd";
  qemuGroup = if libvirtd.qemu.runAsRoot then "root" else "qemu-libvirtd";
  # One key of balloond.conf(5), with its default there.
  key =
    type: default: description:
    lib.mkOption { inherit type default description; };
  # A section: the keys declared here, and any other key of balloond.conf(5).
  section =
    options:
    lib.mkOption {
      type = lib.types.submodule {
        freeformType = lib.types.attrsOf (
          lib.types.oneOf [
            lib.types.bool
            lib.types.int
            lib.types.str
          ]
        );
        inherit options;
      };
      default = { };
      description = "A section of balloond.conf(5).";
    };
  confFile = settingsFormat.generate "balloond.conf" cfg.settings;
in
{
  options.services.balloond = {
    enable = lib.mkEnableOption "balloond, the virtio-balloon memory daemon for QEMU/KVM guests";

    package = lib.mkOption {
      type = lib.types.package;
      default = pkgs.callPackage ./package.nix { };
      defaultText = lib.literalExpression "pkgs.callPackage ./package.nix { }";
      description = "The balloond package (daemon, balloonctl, the hooks and the unit).";
    };

    roleGroup = lib.mkOption {
      type = lib.types.nullOr lib.types.str;
      default = null;
      example = "patroni";
      description = ''
        A group whose members may send Patroni role changes to balloond
        and nothing else ([daemon] role_group of balloond.conf(5)): the
        group of the user Patroni runs its callbacks as
        (`config.services.patroni.group` with NixOS's Patroni), so that
        `balloond-patroni` in `services.patroni.settings.postgresql.callbacks`
        and `pre_promote` reaches the daemon. It may also leave role
        changes in balloond's role spool while balloond is down.
      '';
    };

    settings = lib.mkOption {
      description = ''
        balloond.conf(5) as an attribute set of sections, written to
        /etc/balloond/balloond.conf with `pkgs.formats.ini`. A key left out
        takes its default from balloond.conf(5), which the declared keys
        below repeat. A change reloads balloond (SIGHUP), except
        control_socket and state_dir, which need a restart.
      '';
      default = { };
      example = lib.literalExpression ''
        {
          host.arc_manage = true;
          "cluster pg".rest_urls = "http://10.0.0.11:8008 http://10.0.0.12:8008";
        }
      '';
      type = lib.types.submodule {
        freeformType = settingsFormat.type;
        options = {
          daemon = section {
            log_level = key (lib.types.enum [
              "error"
              "warning"
              "notice"
              "info"
              "debug"
            ]) "info" "How much balloond logs (to the journal).";
            role_group = key lib.types.str (
              if cfg.roleGroup == null then "" else cfg.roleGroup
            ) "Set through services.balloond.roleGroup.";
            control_group = key lib.types.str "" ''
              A group whose members may use the control socket
              (balloonctl) besides root; empty: root only.
            '';
            dry_run = key lib.types.bool false "Decide and log, but send no balloon command.";
            restore_on_exit = key lib.types.bool true "Give every guest its max back when balloond stops.";
          };
          host = section {
            arc_manage = key lib.types.bool false ''
              Keep ZFS's zfs_arc_max at MemTotal minus the guests' targets
              minus reserve, never below arc_min. Set the boot-time cap
              with boot.kernelParams ("zfs.zfs_arc_max=BYTES"): balloond
              moves it from its first run on.
            '';
            arc_min = key lib.types.str "1G" "The lowest zfs_arc_max balloond writes.";
          };
        };
      };
    };
  };

  config = lib.mkIf cfg.enable (
    lib.mkMerge [
      {
        environment.systemPackages = [ cfg.package ];
        environment.etc."balloond/balloond.conf".source = confFile;

        # The package's unit (Type=notify, watchdog, the hardening);
        # NixOS adds these settings as a drop-in.
        systemd.packages = [ cfg.package ];
        systemd.services.balloond = {
          wantedBy = [ "multi-user.target" ];
          # balloond re-reads its config on SIGHUP (ExecReload): a
          # restart would give every guest its max back first.
          reloadTriggers = [ confFile ];
          # Nor does a new package restart it in the middle of a switch:
          # the running balloond keeps the previous version until the
          # admin restarts it, when the host has room for every max.
          restartIfChanged = false;
          # The unit's /bin/kill is not on NixOS: "" clears its line.
          serviceConfig.ExecReload = [
            ""
            "${pkgs.coreutils}/bin/kill -HUP $MAINPID"
          ];
        };

        # The runtime directory also for balloond started by hand, and
        # balloond's own monitors of Proxmox-style guests.
        systemd.tmpfiles.rules = [
          "d /run/balloond 0755 root root -"
          "d /run/balloond/pve 0700 root root -"
        ];
      }
      (lib.mkIf libvirtd.enable {
        # libvirtd runs every file there for every domain event; it reads
        # the directory when it starts.
        virtualisation.libvirtd.hooks.qemu.balloond = "${cfg.package}/libexec/balloond/libvirt/balloond";
        # The extra QMP sockets `balloonctl enable` gives domains: QEMU
        # creates them, as its own user.
        systemd.tmpfiles.rules = [ "d /run/balloond/qmp 0770 ${qemuUser} ${qemuGroup} -" ];
      })
    ]
  );
}
