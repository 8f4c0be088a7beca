# balloond as a nixpkgs-style derivation: `pkgs.callPackage ./package.nix { }`
# (the flake at the root and nix/module.nix do exactly that).
{
  lib,
  stdenv,
  autoreconfHook,
  pkg-config,
  libuv,
  json_c,
  inih,
  libxml2,
  expat,
  nettle,
  curl,
  libmicrohttpd,
  systemd,
  libvirt,
  cmocka,
  # `balloonctl enable`/`disable` edit libvirt domains through libvirt's
  # API; without it they only say so (the libvirt hook is built either way).
  withLibvirt ? true,
}:

stdenv.mkDerivation {
  pname = "balloond";
  version = "0.1.0";

  # The checkout, without git's and the builds' leftovers (build*/ is where
  # the project's own builds go; result* are nix-build's links).
  src = lib.cleanSourceWith {
    src = lib.cleanSource ./..;
    filter =
      path: type:
      let
        base = baseNameOf path;
      in
      !(type == "directory" && lib.hasPrefix "build" base)
      && !(lib.hasPrefix "result" base);
  };

  nativeBuildInputs = [
    autoreconfHook
    pkg-config
  ];
  buildInputs = [
    libuv
    json_c
    inih
    libxml2
    expat
    nettle
    curl
    libmicrohttpd
    systemd
  ] ++ lib.optional withLibvirt libvirt;
  checkInputs = [ cmocka ];

  # The unit, the tmpfiles.d entry and the libvirt hook go into $out: the
  # NixOS module links them where systemd and libvirtd look.
  configureFlags = [
    "--with-systemdsystemunitdir=${placeholder "out"}/lib/systemd/system"
    "--with-tmpfilesdir=${placeholder "out"}/lib/tmpfiles.d"
    "--with-libvirt-hook-dir=${placeholder "out"}/libexec/balloond/libvirt"
    (lib.withFeature withLibvirt "libvirt")
  ];

  enableParallelBuilding = true;

  # The cmocka unit tests only (`make check-unit`, seconds): the rest of
  # `make check` starts daemons, fake guests and hundreds of hook runs, and
  # the real tiers need QEMU, libvirtd and root.
  doCheck = true;
  checkTarget = "check-unit";

  postInstall = ''
    install -Dm644 systemd/balloond.conf.example \
      $out/share/doc/balloond/balloond.conf.example
  '';

  # balloonctl loads libvirt.so.0 with dlopen() only when enable or
  # disable runs (see ctl/libvirt_cmds.c), so nothing puts libvirt on its
  # RUNPATH: add it, or the dlopen() finds nothing on NixOS (stdenv
  # brings patchelf).
  postFixup = lib.optionalString withLibvirt ''
    patchelf --add-rpath ${lib.getLib libvirt}/lib $out/bin/balloonctl
  '';

  meta = {
    description = "virtio-balloon memory daemon for QEMU/KVM guests, with Patroni awareness";
    longDescription = ''
      balloond holds a QMP connection to every registered guest and sets its
      virtio-balloon target directly, within each guest's bounds. It keeps
      any Patroni member that may become the leader at its full memory,
      reclaims memory guests report free when the host runs short
      (MemAvailable, PSI, the ZFS ARC) and gives it back when the pressure
      clears.
    '';
    platforms = lib.platforms.linux;
    mainProgram = "balloonctl";
    # No license has been chosen for balloond yet (see debian/copyright).
  };
}
