# stub.nix: just enough of nixpkgs' lib and pkgs for tests/nix-stub/check.nix
# to read nix/module.nix, nix/package.nix and flake.nix without nixpkgs
# (the test machines have nix-instantiate but no nixpkgs and no network).
# Options, types and conditions become plain attribute sets to look into;
# nothing is merged or type-checked as NixOS would.
rec {
  lib = rec {
    mkOption = o: o // { _type = "option"; };
    mkEnableOption = name: {
      _type = "option";
      enableOption = true;
      type = types.bool;
      default = false;
      description = "Whether to enable ${name}.";
    };
    mkIf = condition: content: {
      _type = "if";
      inherit condition content;
    };
    mkMerge = contents: {
      _type = "merge";
      inherit contents;
    };
    literalExpression = text: {
      _type = "literalExpression";
      inherit text;
    };
    types = {
      bool = { name = "bool"; };
      int = { name = "int"; };
      str = { name = "str"; };
      package = { name = "package"; };
      enum = values: { name = "enum"; inherit values; };
      nullOr = t: { name = "nullOr"; elem = t; };
      attrsOf = t: { name = "attrsOf"; elem = t; };
      oneOf = ts: { name = "oneOf"; elems = ts; };
      submodule = m: { name = "submodule"; } // m;
    };
    hasPrefix = p: s: builtins.substring 0 (builtins.stringLength p) s == p;
    optional = c: x: if c then [ x ] else [ ];
    optionalString = c: s: if c then s else "";
    withFeature = c: f: "--${if c then "with" else "without"}-${f}";
    getLib = p: p;
    cleanSource = src: src;
    cleanSourceWith = { src, filter }: src;
    genAttrs = names: f: builtins.listToAttrs (map (n: { name = n; value = f n; }) names);
    platforms.linux = [ "x86_64-linux" "aarch64-linux" ];
  };
  pkgs = {
    formats.ini = _: {
      type = { name = "ini"; };
      generate = name: value: "/nix/store/stub-${name}";
    };
    coreutils = "/nix/store/stub-coreutils";
    callPackage = f: args: "/nix/store/stub-balloond";
  };
  # mkDerivation returns what it was given, to be looked into.
  stdenv.mkDerivation = attrs: attrs;
}
