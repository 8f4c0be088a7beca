# check.nix: what nix/module.nix, nix/package.nix and flake.nix declare,
# as named booleans for tests/nix.sh (one nix-instantiate --eval per
# name). `example` is the settings written the way balloond.conf.example
# spells its defaults, from the shell: { section = { key = "value"; }; }.
{ example }:
let
  stub = import ./stub.nix;
  inherit (stub) lib pkgs;
  root = ../..;
  hostConfig = libvirtdEnable: roleGroup: {
    services.balloond = {
      enable = true;
      inherit roleGroup;
      package = "/nix/store/stub-balloond";
      settings = { };
    };
    virtualisation.libvirtd = {
      enable = libvirtdEnable;
      qemu.runAsRoot = false;
    };
  };
  module = cfg: import (root + "/nix/module.nix") {
    config = cfg;
    inherit lib pkgs;
  };
  # The definitions in effect: mkIf with a true condition and mkMerge
  # flattened into a list of attribute sets.
  flatten =
    x:
    if builtins.isAttrs x && x ? _type && x._type == "if" then
      (if x.condition then flatten x.content else [ ])
    else if builtins.isAttrs x && x ? _type && x._type == "merge" then
      builtins.concatLists (map flatten x.contents)
    else
      [ x ];
  defs = libvirtd: flatten (module (hostConfig libvirtd null)).config;
  all = libvirtd: f: builtins.concatLists (map f (defs libvirtd));
  at = path: set: builtins.foldl' (s: k: if s != null && builtins.isAttrs s && s ? ${k} then s.${k} else null) set path;
  defined = libvirtd: path: builtins.any (d: at path d != null) (defs libvirtd);
  values = libvirtd: path: builtins.filter (v: v != null) (map (d: at path d) (defs libvirtd));
  rules = libvirtd: builtins.concatLists (values libvirtd [ "systemd" "tmpfiles" "rules" ]);
  hasRule = libvirtd: prefix: builtins.any (r: lib.hasPrefix prefix r) (rules libvirtd);

  opts = (module (hostConfig false null)).options.services.balloond;
  settingsOpts = opts.settings.type.options;
  # The declared keys of balloond.conf, with their defaults rendered as
  # balloond.conf.example writes them (booleans as yes/no).
  render = v: if builtins.isBool v then (if v then "yes" else "no") else toString v;
  declared = builtins.concatLists (
    map (
      sec:
      map (k: {
        inherit sec k;
        v = render settingsOpts.${sec}.type.options.${k}.default;
      }) (builtins.attrNames settingsOpts.${sec}.type.options)
    ) (builtins.attrNames settingsOpts)
  );
  withGroup = (module (hostConfig false "patroni")).options.services.balloond.settings.type.options;

  drv = import (root + "/nix/package.nix") (
    {
      inherit lib;
      inherit (stub) stdenv;
      withLibvirt = true;
    }
    // builtins.listToAttrs (
      map (n: { name = n; value = n; }) [
        "autoreconfHook" "pkg-config" "libuv" "json_c" "inih" "libxml2"
        "expat" "nettle" "curl" "libmicrohttpd" "systemd" "libvirt" "cmocka"
      ]
    )
  );
  has = x: l: builtins.elem x l;
  placeholderOut = builtins.placeholder "out";
  flake = import (root + "/flake.nix");
  flakeOut = flake.outputs {
    self = flakeOut;
    nixpkgs = {
      inherit lib;
      legacyPackages = lib.genAttrs lib.platforms.linux (s: pkgs);
    };
  };
in
builtins.mapAttrs (n: v: builtins.seq v v) {
  module_options = builtins.attrNames opts == [ "enable" "package" "roleGroup" "settings" ];
  enable_is_mkEnableOption = opts.enable.enableOption or false;
  package_option_is_a_package = opts.package.type.name == "package";
  settings_are_ini = opts.settings.type.freeformType.name == "ini";
  role_group_option = opts.roleGroup.type.name == "nullOr" && opts.roleGroup.default == null;
  role_group_reaches_settings = withGroup.daemon.type.options.role_group.default == "patroni";
  settings_sections = builtins.attrNames settingsOpts == [ "daemon" "host" ];
  arc_manage_declared = settingsOpts.host.type.options ? arc_manage;
  # Every declared key exists in balloond.conf.example with the same default.
  settings_defaults_match_balloond_conf =
    declared != [ ] && builtins.all (d: (example.${d.sec} or { }).${d.k} or null == d.v) declared;
  service_defined = defined false [ "systemd" "services" "balloond" ];
  service_wanted = has "multi-user.target" (builtins.head (values false [ "systemd" "services" "balloond" "wantedBy" ]));
  service_reloads_on_config = (builtins.head (values false [ "systemd" "services" "balloond" "reloadTriggers" ])) != [ ];
  service_not_restarted_by_a_new_package = (builtins.head (values false [ "systemd" "services" "balloond" "restartIfChanged" ])) == false;
  unit_from_package = has "/nix/store/stub-balloond" (builtins.head (values false [ "systemd" "packages" ]));
  config_file_in_etc = defined false [ "environment" "etc" "balloond/balloond.conf" "source" ];
  tmpfiles_run_balloond = hasRule false "d /run/balloond ";
  libvirt_hook_when_libvirtd =
    builtins.head (values true [ "virtualisation" "libvirtd" "hooks" "qemu" "balloond" ])
    == "/nix/store/stub-balloond/libexec/balloond/libvirt/balloond";
  no_libvirt_hook_without_libvirtd = !(defined false [ "virtualisation" "libvirtd" "hooks" ]);
  tmpfiles_qmp_dir_for_qemu_user = hasRule true "d /run/balloond/qmp 0770 qemu-libvirtd qemu-libvirtd";
  package_autoreconf_pkgconfig = has "autoreconfHook" drv.nativeBuildInputs && has "pkg-config" drv.nativeBuildInputs;
  package_libraries = builtins.all (l: has l drv.buildInputs) [ "libuv" "json_c" "inih" "libxml2" "expat" "nettle" "curl" "libmicrohttpd" "systemd" "libvirt" ];
  package_checks_unit_tests = drv.doCheck && drv.checkTarget == "check-unit" && has "cmocka" drv.checkInputs;
  package_hook_dir_matches_module = has "--with-libvirt-hook-dir=${placeholderOut}/libexec/balloond/libvirt" drv.configureFlags;
  flake_package = flakeOut.packages.x86_64-linux.default == "/nix/store/stub-balloond";
  flake_module = flakeOut.nixosModules.default == root + "/nix/module.nix";
}
