package installer

import (
	"fmt"
	"strings"
)

// Service identity, shared by `tezgah install`, the .deb and the .msi.
const (
	Name        = "tezgah"
	DisplayName = "tezgah payment agent"
	Description = "Payment edge agent: carries cash registers' payment requests to the providers through a durable outbox."
	// User is the unprivileged account the Linux service runs as.
	User = "tezgah"
	// WindowsAccount is the built-in low-privilege account the Windows
	// service runs as: no password, network access as the machine.
	WindowsAccount = `NT AUTHORITY\LocalService`
	// EnvFile holds secrets as environment variables (IYZICO_PASSWORD=...)
	// for "env:NAME" in the config. systemd reads it as root before it
	// drops privileges, so it can stay root-only (chmod 600).
	EnvFile = "/etc/tezgah/tezgah.env"
)

// Args are the service's command-line arguments after the executable.
func Args(configPath string) []string {
	return []string{"run", "--service", "--config", configPath}
}

// SystemdUnit is the unit file of the Linux service, the same for
// `tezgah install` and the .deb. Restart=always brings the agent back
// after any exit; the outbox makes that safe. The sandboxing leaves the
// agent one writable place, its StateDirectory (/var/lib/tezgah); a
// data_dir elsewhere needs a drop-in with ReadWritePaths= (see
// docs/operations.md).
func SystemdUnit(exe, configPath string) string {
	cmd := append([]string{exe}, Args(configPath)...)
	for i, a := range cmd {
		cmd[i] = systemdQuote(a)
	}
	return fmt.Sprintf(`[Unit]
Description=%s
Documentation=https://github.com/tezgah/tezgah/blob/main/docs/operations.md
After=network-online.target
Wants=network-online.target
# A package installs the service before the technician writes the file;
# until then it is skipped rather than restarted in a loop.
ConditionPathExists=%s

[Service]
Type=simple
ExecStart=%s
ExecReload=/bin/kill -HUP $MAINPID
User=%s
Group=%s
EnvironmentFile=-%s
Restart=always
RestartSec=5
StateDirectory=tezgah
StateDirectoryMode=0700
UMask=0077
NoNewPrivileges=yes
ProtectSystem=strict
ProtectHome=yes
PrivateTmp=yes
PrivateDevices=yes
ProtectKernelTunables=yes
ProtectKernelModules=yes
ProtectKernelLogs=yes
ProtectControlGroups=yes
ProtectClock=yes
ProtectHostname=yes
RestrictSUIDSGID=yes
RestrictRealtime=yes
RestrictNamespaces=yes
LockPersonality=yes
MemoryDenyWriteExecute=yes
RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6 AF_NETLINK
SystemCallArchitectures=native
SystemCallFilter=@system-service
CapabilityBoundingSet=

[Install]
WantedBy=multi-user.target
`, DisplayName, configPath, strings.Join(cmd, " "), User, User, EnvFile)
}

// systemdQuote quotes a word of ExecStart= when it needs it (systemd.service(5),
// "Command lines").
func systemdQuote(s string) string {
	if s != "" && !strings.ContainsAny(s, " \t\"'\\$%;") {
		return s
	}
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`, `$`, `$$`, `%`, `%%`)
	return `"` + r.Replace(s) + `"`
}
