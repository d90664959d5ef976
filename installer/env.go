package installer

import (
	"bufio"
	"fmt"
	"os"
	"strings"
)

// ParseEnv reads systemd EnvironmentFile lines: NAME=value, with blank
// lines and #/; comments skipped, and one pair of surrounding quotes
// removed. It is what the service sees of /etc/tezgah/tezgah.env, so tools
// run by hand (doctor, backup) can resolve the same "env:NAME" secrets.
func ParseEnv(data string) (map[string]string, error) {
	out := map[string]string{}
	sc := bufio.NewScanner(strings.NewReader(data))
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' || line[0] == ';' {
			continue
		}
		line = strings.TrimPrefix(line, "export ")
		name, value, ok := strings.Cut(line, "=")
		name = strings.TrimSpace(name)
		if !ok || !validEnvName(name) {
			return nil, fmt.Errorf("line %d: not NAME=value", n)
		}
		value = strings.TrimSpace(value)
		if len(value) >= 2 && (value[0] == '"' || value[0] == '\'') && value[len(value)-1] == value[0] {
			value = value[1 : len(value)-1]
		}
		out[name] = value
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	return out, nil
}

func validEnvName(s string) bool {
	if s == "" || s[0] >= '0' && s[0] <= '9' {
		return false
	}
	for _, c := range s {
		if !(c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

// UseServiceEnv sets, in this process, the variables the installed
// service gets (Linux: EnvFile; Windows: the service's registry
// Environment) that are not set already. A missing or unreadable source
// is not an error: the caller's config load then names the variable
// that is missing. The values are never printed.
func UseServiceEnv() error {
	vars, err := serviceEnv()
	if err != nil {
		return err
	}
	for k, v := range vars {
		if _, ok := os.LookupEnv(k); !ok {
			os.Setenv(k, v)
		}
	}
	return nil
}
