package process

import "runtime/debug"

// Version returns what --version prints after a program's name: the version
// and commit stamped at build time (-ldflags "-X main.version=... -X
// main.commit=..."), or else the module version Go recorded, or "dev".
func Version(version, commit string) string {
	if version == "" {
		version = "dev"
		if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			version = bi.Main.Version
		}
	}
	if commit == "" {
		return version
	}
	return version + " (commit " + commit + ")"
}
