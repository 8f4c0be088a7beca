{
  description = "balloond: virtio-balloon memory daemon for QEMU/KVM guests";

  inputs.nixpkgs.url = "github:NixOS/nixpkgs/nixos-24.05";

  outputs =
    { self, nixpkgs }:
    let
      systems = [
        "x86_64-linux"
        "aarch64-linux"
      ];
      forAllSystems = f: nixpkgs.lib.genAttrs systems (system: f nixpkgs.legacyPackages.${system});
    in
    {
      packages = forAllSystems (pkgs: rec {
        balloond = pkgs.callPackage ./nix/package.nix { };
        default = balloond;
      });
      overlays.default = final: prev: { balloond = final.callPackage ./nix/package.nix { }; };
      # services.balloond; its package defaults to nix/package.nix built
      # with the host's nixpkgs.
      nixosModules.default = ./nix/module.nix;
      nixosModules.balloond = ./nix/module.nix;
    };
}
