package config

import (
	"bytes"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"reflect"
	"slices"
	"strconv"
	"strings"

	"github.com/edgeless-go/edgeless/runtime/contract"

	toml "github.com/pelletier/go-toml/v2"

	"github.com/edgeless-go/edgeless/node/internal/state"
)

// EnvPrefix starts the name of the environment variable of every key:
// EDGELESS_<SECTION>_<KEY> in upper case, e.g. EDGELESS_GENERAL_AGENT_URL
// for general.agent_url.
const EnvPrefix = "EDGELESS_"

// NodeIDFile is the file in general.state_dir that keeps the node id when
// neither the config file nor the environment sets general.node_id.
const NodeIDFile = state.NodeIDFile

// upstreamEnv maps the environment variables of upstream's node image
// (edgeless_node/Dockerfile, documentation/deploy_using_containers.md) to
// the key each one sets. The *_HOST and *_PORT pairs are in upstreamHostPort.
var upstreamEnv = map[string]string{
	"NODE_ID":                           "general.node_id",
	"AGENT_URL_ANNOUNCED":               "general.agent_url_announced",
	"INVOCATION_URL_ANNOUNCED":          "general.invocation_url_announced",
	"NODE_REGISTER_URL":                 "general.node_register_url",
	"SUBSCRIPTION_REFRESH_INTERVAL_SEC": "general.subscription_refresh_interval_sec",
	"TELEMETRY_PERFORMANCE_SAMPLES":     "telemetry.performance_samples",
	"WASM_RUNTIME_ENABLED":              "wasm_runtime.enabled",
	"CONTAINER_RUNTIME_ENABLED":         "container_runtime.enabled",
	"GUEST_API_HOST_URL":                "container_runtime.guest_api_host_url",
	"HTTP_INGRESS_PROVIDER":             "resources.http_ingress_provider",
	"HTTP_EGRESS_PROVIDER":              "resources.http_egress_provider",
	"FILE_LOG_PROVIDER":                 "resources.file_log_provider",
	"REDIS_PROVIDER":                    "resources.redis_provider",
	"DDA_PROVIDER":                      "resources.dda_provider",
	"KAFKA_EGRESS_PROVIDER":             "resources.kafka_egress_provider",
	"NUM_CPUS":                          "user_node_capabilities.num_cpus",
	"MODEL_NAME_CPU":                    "user_node_capabilities.model_name_cpu",
	"CLOCK_FREQ_CPU":                    "user_node_capabilities.clock_freq_cpu",
	"NUM_CORES":                         "user_node_capabilities.num_cores",
	"MEM_SIZE":                          "user_node_capabilities.mem_size",
	"LABELS":                            "user_node_capabilities.labels",
	"IS_TEE_RUNNING":                    "user_node_capabilities.is_tee_running",
	"HAS_TPM":                           "user_node_capabilities.has_tpm",
}

// upstreamHostPort maps upstream's <NAME>_HOST / <NAME>_PORT pairs to the URL
// key they make up; either half may be set alone, the other half is then
// taken from the URL the file (or the default) gives.
var upstreamHostPort = map[string]string{
	"AGENT":             "general.agent_url",
	"INVOCATION":        "general.invocation_url",
	"TELEMETRY_METRICS": "telemetry.metrics_url",
	"HTTP_INGRESS":      "resources.http_ingress_url",
}

// EnvNames lists, for each key that an environment variable can set, the
// variable names that set it (this node's EDGELESS_ name first, then
// upstream's names), sorted by key.
func EnvNames() map[string][]string {
	out := make(map[string][]string)
	for _, f := range envFields(base()) {
		out[f.key] = []string{f.env}
	}
	for name, key := range upstreamEnv {
		out[key] = append(out[key], name)
	}
	for name, key := range upstreamHostPort {
		out[key] = append(out[key], name+"_HOST", name+"_PORT")
	}
	for k := range out {
		slices.Sort(out[k][1:])
	}
	return out
}

// LoadWithEnv reads the configuration file at path as Load does, then sets
// the keys that environment variables name (looked up with lookup, e.g.
// os.LookupEnv; see EnvNames), then validates the result. It returns the
// config and the keys the environment set.
//
// When neither the file nor the environment sets general.node_id (or they
// set it to ""), the node id is read from NodeIDFile in general.state_dir, or made and written there
// on the first start, so that a node installed from a package or run from an
// image keeps its identity (and reaps its own leftover containers) across
// restarts without a config file per machine.
func LoadWithEnv(path string, lookup func(string) (string, bool)) (*Config, []string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, fmt.Errorf("read config: %w", err)
	}
	c := base()
	dec := toml.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(c); err != nil {
		return nil, nil, decodeError(path, err)
	}
	c.pos = keyLines(data)
	fromEnv, err := c.applyEnv(lookup)
	if err != nil {
		return nil, nil, err
	}
	if strings.TrimSpace(c.General.NodeID) == "" && strings.TrimSpace(c.General.StateDir) != "" {
		id, _, err := state.LoadOrCreateNodeID(c.General.StateDir)
		if err != nil {
			return nil, nil, err
		}
		c.General.NodeID = id
	}
	if err := c.Validate(); err != nil {
		var errs []error
		for _, e := range flatten(err) {
			var fe *FieldError
			if errors.As(e, &fe) {
				if name, ok := fromEnv[fe.Key]; ok {
					errs = append(errs, fmt.Errorf("environment variable %s: %w", name, e))
					continue
				}
			}
			errs = append(errs, c.withLines(path, e))
		}
		return nil, nil, errors.Join(errs...)
	}
	c.General.NodeID = CanonicalNodeID(c.General.NodeID)
	keys := make([]string, 0, len(fromEnv))
	for k := range fromEnv {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return c, keys, nil
}

// envField is a key that an environment variable can set.
type envField struct {
	key, env string
	v        reflect.Value // settable
}

// envFields lists the scalar keys of c (and user_node_capabilities.labels),
// each with its EDGELESS_ variable. Nested tables ([resources.*_provider],
// [power_info]) have none.
func envFields(c *Config) []envField {
	var out []envField
	cv := reflect.ValueOf(c).Elem()
	for i := range cv.NumField() {
		sf := cv.Type().Field(i)
		section := tomlName(sf)
		if section == "" || sf.Type.Kind() != reflect.Struct {
			continue
		}
		sv := cv.Field(i)
		for j := range sv.NumField() {
			name := tomlName(sv.Type().Field(j))
			if name == "" || !envSettable(sv.Field(j).Type()) {
				continue
			}
			key := section + "." + name
			out = append(out, envField{key: key, env: EnvPrefix + strings.ToUpper(section+"_"+name), v: sv.Field(j)})
		}
	}
	return out
}

func tomlName(sf reflect.StructField) string {
	name, _, _ := strings.Cut(sf.Tag.Get("toml"), ",")
	if !sf.IsExported() || name == "-" {
		return ""
	}
	return name
}

func envSettable(t reflect.Type) bool {
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.String, reflect.Bool, reflect.Int, reflect.Int64, reflect.Uint16, reflect.Uint32, reflect.Uint64,
		reflect.Float32, reflect.Float64:
		return true
	case reflect.Slice:
		return t.Elem().Kind() == reflect.String
	}
	return false
}

// applyEnv sets the keys named by environment variables and returns, for
// each key set, the variable that set it. Two variables setting the same key
// are an error, as is a value that does not parse as the key's type. An
// empty value of a non-string key (as upstream's image passes for unset
// values) leaves the key alone.
func (c *Config) applyEnv(lookup func(string) (string, bool)) (map[string]string, error) {
	fields := envFields(c)
	byKey := make(map[string]envField, len(fields))
	for _, f := range fields {
		byKey[f.key] = f
	}
	type setting struct{ name, value string }
	want := make(map[string][]setting)
	for _, f := range fields {
		if v, ok := lookup(f.env); ok {
			want[f.key] = append(want[f.key], setting{f.env, v})
		}
	}
	for name, key := range upstreamEnv {
		if v, ok := lookup(name); ok {
			want[key] = append(want[key], setting{name, v})
		}
	}
	var errs []error
	for prefix, key := range upstreamHostPort {
		host, hok := lookup(prefix + "_HOST")
		port, pok := lookup(prefix + "_PORT")
		if !hok && !pok {
			continue
		}
		var names []string
		cur := byKey[key].v.String()
		u, err := ParseURL(cur)
		if err != nil {
			u = URL{}
		}
		h, p := u.Host, strconv.Itoa(int(u.Port))
		if h == "" {
			h = "0.0.0.0" // upstream image's default host
		}
		if hok {
			h, names = host, append(names, prefix+"_HOST")
		}
		if pok {
			p, names = port, append(names, prefix+"_PORT")
		}
		if n, err := strconv.ParseUint(p, 10, 16); err != nil || (pok && port == "") {
			errs = append(errs, fmt.Errorf("environment variable %s_PORT: want a port from 0 to 65535, got %q", prefix, port))
			continue
		} else {
			p = strconv.FormatUint(n, 10)
		}
		if a, err := netip.ParseAddr(h); err == nil && a.Is6() {
			h = "[" + h + "]"
		}
		want[key] = append(want[key], setting{strings.Join(names, "+"), "http://" + h + ":" + p})
	}
	keys := make([]string, 0, len(want))
	for k := range want {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	from := make(map[string]string)
	for _, key := range keys {
		s := want[key]
		if len(s) > 1 {
			names := make([]string, len(s))
			for i := range s {
				names[i] = s[i].name
			}
			slices.Sort(names)
			errs = append(errs, fmt.Errorf("environment variables %s all set %s: set only one", strings.Join(names, ", "), key))
			continue
		}
		f := byKey[key]
		set, err := setFromEnv(f.v, s[0].value)
		if err != nil {
			errs = append(errs, fmt.Errorf("environment variable %s (%s): %w", s[0].name, key, err))
			continue
		}
		if set {
			from[key] = s[0].name
		}
	}
	return from, errors.Join(errs...)
}

// setFromEnv parses s as the type of v and sets v; it reports false (and
// leaves v alone) for an empty value of a non-string type.
func setFromEnv(v reflect.Value, s string) (bool, error) {
	t := v.Type()
	ptr := t.Kind() == reflect.Pointer
	if ptr {
		t = t.Elem()
	}
	s = strings.TrimSpace(s)
	if s == "" && t.Kind() != reflect.String {
		return false, nil
	}
	nv := reflect.New(t).Elem()
	switch t.Kind() {
	case reflect.String:
		nv.SetString(s)
	case reflect.Bool:
		switch strings.ToLower(s) {
		case "true", "1", "yes":
			nv.SetBool(true)
		case "false", "0", "no":
			nv.SetBool(false)
		default:
			return false, fmt.Errorf("want true or false, got %q", s)
		}
	case reflect.Int, reflect.Int64:
		n, err := strconv.ParseInt(s, 10, t.Bits())
		if err != nil {
			return false, fmt.Errorf("want an integer, got %q", s)
		}
		nv.SetInt(n)
	case reflect.Uint16, reflect.Uint32, reflect.Uint64:
		n, err := strconv.ParseUint(s, 10, t.Bits())
		if err != nil {
			return false, fmt.Errorf("want a non-negative integer of at most %d bits, got %q", t.Bits(), s)
		}
		nv.SetUint(n)
	case reflect.Float32, reflect.Float64:
		n, err := strconv.ParseFloat(s, t.Bits())
		if err != nil {
			return false, fmt.Errorf("want a number, got %q", s)
		}
		nv.SetFloat(n)
	case reflect.Slice:
		list, err := parseList(s)
		if err != nil {
			return false, err
		}
		nv.Set(reflect.ValueOf(list))
	default:
		return false, fmt.Errorf("cannot be set from the environment")
	}
	if ptr {
		p := reflect.New(t)
		p.Elem().Set(nv)
		nv = p
	}
	v.Set(nv)
	return true, nil
}

// parseList reads a list of strings: a TOML array (["a", "b"]), upstream's
// quoted items without brackets ("a","b"), or plain comma-separated items.
func parseList(s string) ([]string, error) {
	if !strings.HasPrefix(s, "[") && !strings.HasPrefix(s, `"`) {
		var out []string
		for item := range strings.SplitSeq(s, ",") {
			if item = strings.TrimSpace(item); item != "" {
				out = append(out, item)
			}
		}
		return out, nil
	}
	if !strings.HasPrefix(s, "[") {
		s = "[" + s + "]"
	}
	var doc struct {
		V []string `toml:"v"`
	}
	if err := toml.Unmarshal([]byte("v = "+s), &doc); err != nil {
		return nil, fmt.Errorf("want a list like a,b or [\"a\", \"b\"], got %q", contract.Shorten(s))
	}
	return doc.V, nil
}

// CheckEnv returns an error naming each variable of environ (KEY=value
// pairs, as os.Environ gives) that starts like a key's variable,
// EDGELESS_<SECTION>_, but names no key: a misspelt variable would
// otherwise be ignored without a word.
func CheckEnv(environ []string) error {
	known := map[string]bool{}
	sections := map[string]bool{}
	for _, f := range envFields(base()) {
		known[f.env] = true
		section, _, _ := strings.Cut(f.key, ".")
		sections[EnvPrefix+strings.ToUpper(section)+"_"] = true
	}
	var errs []error
	for _, kv := range environ {
		name, _, _ := strings.Cut(kv, "=")
		if known[name] {
			continue
		}
		for prefix := range sections {
			if strings.HasPrefix(name, prefix) {
				errs = append(errs, fmt.Errorf("environment variable %s: no such config key (the keys of [%s] are set by %s<KEY>)",
					name, strings.ToLower(strings.TrimSuffix(strings.TrimPrefix(prefix, EnvPrefix), "_")), prefix))
				break
			}
		}
	}
	return errors.Join(errs...)
}
