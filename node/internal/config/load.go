package config

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"regexp"
	"strings"

	toml "github.com/pelletier/go-toml/v2"
	"github.com/pelletier/go-toml/v2/unstable"
)

// Load reads and validates the configuration file at path. Every problem is
// reported with the file, the line and the key, e.g.
// "node.toml:3: general.agent_url: host must be an IP address".
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	return Parse(path, data)
}

// Parse decodes and validates a configuration document and spells the node
// id canonically (see CanonicalNodeID); name is used in error messages
// (usually the file path).
func Parse(name string, data []byte) (*Config, error) {
	return ParseOnto(name, data, base())
}

// ParseOnto is Parse with the values of keys that data leaves out taken
// from defaults (which it fills in and returns): in-a-box's node has
// defaults of its own (other ports than edgeless-node's).
func ParseOnto(name string, data []byte, defaults *Config) (*Config, error) {
	c := defaults
	dec := toml.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(c); err != nil {
		return nil, decodeError(name, err)
	}
	c.pos = keyLines(data)
	if _, ok := c.pos["general.node_id"]; !ok {
		return nil, fmt.Errorf("%s: general.node_id: required (a UUID that stays the same across restarts)", name)
	}
	if err := c.Validate(); err != nil {
		return nil, c.withLines(name, err)
	}
	c.General.NodeID = CanonicalNodeID(c.General.NodeID)
	return c, nil
}

// withLines prefixes each FieldError in err with name and the key's line.
func (c *Config) withLines(name string, err error) error {
	var errs []error
	for _, e := range flatten(err) {
		var fe *FieldError
		if errors.As(e, &fe) {
			if line, ok := c.pos[fe.Key]; ok {
				errs = append(errs, fmt.Errorf("%s:%d: %w", name, line, e))
				continue
			}
		}
		errs = append(errs, fmt.Errorf("%s: %w", name, e))
	}
	return errors.Join(errs...)
}

func flatten(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}

// decodeError rewrites go-toml's errors as "name:line: key: problem".
func decodeError(name string, err error) error {
	var strict *toml.StrictMissingError
	if errors.As(err, &strict) {
		errs := make([]error, 0, len(strict.Errors))
		for i := range strict.Errors {
			e := &strict.Errors[i]
			row, _ := e.Position()
			what := "unknown key"
			if strings.Contains(e.Error(), "missing table") {
				what = "unknown section"
			}
			errs = append(errs, fmt.Errorf("%s:%d: %s: %s", name, row, strings.Join(e.Key(), "."), what))
		}
		return errors.Join(errs...)
	}
	var de *toml.DecodeError
	if errors.As(err, &de) {
		row, col := de.Position()
		msg := describe(strings.TrimPrefix(de.Error(), "toml: "))
		if key := de.Key(); len(key) > 0 {
			return fmt.Errorf("%s:%d: %s: %s", name, row, strings.Join(key, "."), msg)
		}
		return fmt.Errorf("%s:%d:%d: %s", name, row, col, msg)
	}
	return fmt.Errorf("%s: %w", name, err)
}

var typeMismatch = regexp.MustCompile(`^cannot decode TOML (\w+) into struct field \S+ of type (\S+)$`)

// describe turns go-toml's type mismatch messages into the TOML types the
// operator should write.
func describe(msg string) string {
	m := typeMismatch.FindStringSubmatch(msg)
	if m == nil {
		return msg
	}
	want := map[string]string{
		"uint64": "a non-negative integer", "uint32": "a non-negative integer", "uint16": "an integer from 0 to 65535",
		"int64": "an integer", "int": "an integer", "string": "a string", "bool": "true or false",
		"float64": "a number", "float32": "a number", "[]string": "an array of strings",
	}[strings.TrimPrefix(m[2], "*")]
	if want == "" {
		want = "a value of type " + m[2]
	}
	return fmt.Sprintf("want %s, got a TOML %s", want, m[1])
}

// keyLines maps each dotted key of a TOML document to the line where it is
// set (tables map to their header's line).
func keyLines(data []byte) map[string]int {
	pos := make(map[string]int)
	var p unstable.Parser
	p.Reset(data)
	var table []string
	for p.NextExpression() {
		e := p.Expression()
		switch e.Kind {
		case unstable.Table, unstable.ArrayTable:
			table, _ = keyOf(&p, e)
			if line, ok := firstLine(&p, e); ok {
				setLine(pos, strings.Join(table, "."), line)
			}
		case unstable.KeyValue:
			indexKeyValue(&p, pos, table, e)
		}
	}
	return pos
}

func indexKeyValue(p *unstable.Parser, pos map[string]int, prefix []string, kv *unstable.Node) {
	key, line := keyOf(p, kv)
	full := append(append([]string(nil), prefix...), key...)
	setLine(pos, strings.Join(full, "."), line)
	if v := kv.Value(); v != nil && v.Kind == unstable.InlineTable {
		it := v.Children()
		for it.Next() {
			if n := it.Node(); n.Kind == unstable.KeyValue {
				indexKeyValue(p, pos, full, n)
			}
		}
	}
}

func keyOf(p *unstable.Parser, n *unstable.Node) ([]string, int) {
	var parts []string
	line := 0
	it := n.Key()
	for it.Next() {
		k := it.Node()
		if line == 0 {
			line = p.Shape(k.Raw).Start.Line
		}
		parts = append(parts, string(k.Data))
	}
	return parts, line
}

func firstLine(p *unstable.Parser, n *unstable.Node) (int, bool) {
	_, line := keyOf(p, n)
	return line, line > 0
}

// setLine keeps the first line a key appears on (arrays of tables repeat).
func setLine(pos map[string]int, key string, line int) {
	if _, ok := pos[key]; !ok {
		pos[key] = line
	}
}
