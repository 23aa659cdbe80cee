package config

import (
	"errors"
	"fmt"
	"os"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/pelletier/go-toml/v2"
)

// field is one configuration key, found by reflection on Config's toml tags.
type field struct {
	section string // "scheduler"
	name    string // "max_retries"
	key     string // "scheduler.max_retries"
	env     string // "CYXWIZ_SCHEDULER_MAX_RETRIES"
	index   []int  // reflect index path into Config
	kind    reflect.Kind
}

type schema struct {
	fields   []*field
	byKey    map[string]*field
	byEnv    map[string]*field
	sections []string // in declaration order
}

var keys = buildSchema()

func buildSchema() schema {
	s := schema{byKey: map[string]*field{}, byEnv: map[string]*field{}}
	t := reflect.TypeFor[Config]()
	for i := range t.NumField() {
		sf := t.Field(i)
		sec := sf.Tag.Get("toml")
		s.sections = append(s.sections, sec)
		for j := range sf.Type.NumField() {
			ff := sf.Type.Field(j)
			f := &field{
				section: sec,
				name:    ff.Tag.Get("toml"),
				index:   []int{i, j},
				kind:    ff.Type.Kind(),
			}
			switch {
			case f.kind == reflect.String, f.kind == reflect.Int, f.kind == reflect.Float64,
				ff.Type == reflect.TypeFor[List]():
			default:
				panic(fmt.Sprintf("config: field %s.%s has unsupported kind %s", sf.Name, ff.Name, f.kind))
			}
			f.key = sec + "." + f.name
			f.env = EnvPrefix + strings.ToUpper(sec+"_"+f.name)
			s.fields = append(s.fields, f)
			s.byKey[f.key] = f
			s.byEnv[f.env] = f
		}
	}
	return s
}

// Keys lists every configuration key as "section.key", in file order.
func Keys() []string {
	out := make([]string, len(keys.fields))
	for i, f := range keys.fields {
		out[i] = f.key
	}
	return out
}

// EnvVar returns the environment variable that overrides key ("section.key"),
// or "" if there is no such key.
func EnvVar(key string) string {
	if f := keys.byKey[key]; f != nil {
		return f.env
	}
	return ""
}

func (f *field) value(cfg *Config) reflect.Value {
	return reflect.ValueOf(cfg).Elem().FieldByIndex(f.index)
}

// applyTOML overlays the TOML document data (read from file) on cfg.
func applyTOML(cfg *Config, file string, data []byte, origins map[string]origin) []error {
	var doc map[string]any
	if err := toml.Unmarshal(data, &doc); err != nil {
		var de *toml.DecodeError
		if errors.As(err, &de) {
			row, col := de.Position()
			return []error{fmt.Errorf("%s:%d:%d: %w", file, row, col, err)}
		}
		return []error{fmt.Errorf("%s: %w", file, err)}
	}
	var errs []error
	for _, sec := range sortedKeys(doc) {
		if !slices.Contains(keys.sections, sec) {
			errs = append(errs, &KeyError{Key: sec, File: file, Unknown: true, Msg: sectionHint(sec)})
			continue
		}
		table, ok := doc[sec].(map[string]any)
		if !ok {
			errs = append(errs, &KeyError{Key: sec, File: file,
				Msg: fmt.Sprintf("expected a table ([%s]), got %s", sec, describe(doc[sec]))})
			continue
		}
		for _, name := range sortedKeys(table) {
			key := sec + "." + name
			f := keys.byKey[key]
			if f == nil {
				errs = append(errs, &KeyError{Key: key, File: file, Unknown: true, Msg: keyHint(sec, name, false)})
				continue
			}
			if msg := setTOML(f.value(cfg), f.kind, table[name]); msg != "" {
				errs = append(errs, &KeyError{Key: key, File: file, Msg: msg})
				continue
			}
			origins[key] = origin{file: file}
		}
	}
	return errs
}

// setTOML stores a decoded TOML value in v, or says what is wrong with it.
func setTOML(v reflect.Value, kind reflect.Kind, raw any) string {
	switch kind {
	case reflect.String:
		if s, ok := raw.(string); ok {
			v.SetString(s)
			return ""
		}
	case reflect.Int:
		if n, ok := raw.(int64); ok {
			if v.OverflowInt(n) {
				return fmt.Sprintf("integer %d is out of range", n)
			}
			v.SetInt(n)
			return ""
		}
	case reflect.Float64:
		switch n := raw.(type) {
		case float64:
			v.SetFloat(n)
			return ""
		case int64:
			v.SetFloat(float64(n))
			return ""
		}
	case reflect.Struct: // List
		arr, ok := raw.([]any)
		if !ok {
			break
		}
		items := make([]string, len(arr))
		for i, it := range arr {
			s, ok := it.(string)
			if !ok {
				return fmt.Sprintf("expected %s, got %s at index %d", expected(kind), describe(it), i)
			}
			if strings.Contains(s, ",") {
				return fmt.Sprintf("item %d %q contains a comma; write one item per array element", i, s)
			}
			items[i] = s
		}
		v.Set(reflect.ValueOf(NewList(items...)))
		return ""
	}
	return fmt.Sprintf("expected %s, got %s", expected(kind), describe(raw))
}

// applyEnv overlays the CYXWIZ_<SECTION>_<KEY> variables of env on cfg.
// Variables with the prefix but no known section (CYXWIZ_LOG, CYXWIZ_TEST_…)
// are not configuration and are ignored.
func applyEnv(cfg *Config, env []string, origins map[string]origin) []error {
	var errs []error
	var fromFiles [][2]string // {variable, path} of CYXWIZ_*_FILE variables
	for _, kv := range env {
		name, val, ok := strings.Cut(kv, "=")
		if !ok || !strings.HasPrefix(name, EnvPrefix) {
			continue
		}
		rest := strings.TrimPrefix(name, EnvPrefix)
		sec := ""
		for _, s := range keys.sections {
			if strings.HasPrefix(rest, strings.ToUpper(s)+"_") {
				sec = s
				break
			}
		}
		if sec == "" {
			continue
		}
		f := keys.byEnv[name]
		if base, isFile := strings.CutSuffix(name, "_FILE"); f == nil && isFile && keys.byEnv[base] != nil {
			fromFiles = append(fromFiles, [2]string{base, val})
			continue
		}
		if f == nil {
			key := sec + "." + strings.ToLower(rest[len(sec)+1:])
			errs = append(errs, &KeyError{Key: key, EnvVar: name, Unknown: true,
				Msg: keyHint(sec, strings.ToLower(rest[len(sec)+1:]), true)})
			continue
		}
		if msg := setString(f.value(cfg), f.kind, val); msg != "" {
			errs = append(errs, &KeyError{Key: f.key, EnvVar: name, Msg: msg})
			continue
		}
		origins[f.key] = origin{env: name}
	}
	for _, ff := range fromFiles {
		errs = append(errs, applyEnvFile(cfg, ff[0], ff[1], origins)...)
	}
	return errs
}

// applyEnvFile sets the key of environment variable base from the file
// that base+"_FILE" names (trailing newlines dropped): the convention of
// Docker secrets and systemd credentials (LoadCredential), which keeps
// secrets out of the environment and the unit file.
func applyEnvFile(cfg *Config, base, path string, origins map[string]origin) []error {
	f := keys.byEnv[base]
	name := base + "_FILE"
	if origins[f.key].env == base {
		return []error{&KeyError{Key: f.key, EnvVar: name, Msg: "set " + base + " or " + name + ", not both"}}
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return []error{&KeyError{Key: f.key, EnvVar: name, Msg: err.Error()}}
	}
	if msg := setString(f.value(cfg), f.kind, strings.TrimRight(string(data), "\r\n")); msg != "" {
		return []error{&KeyError{Key: f.key, EnvVar: name, Msg: msg}}
	}
	origins[f.key] = origin{env: name}
	return nil
}

// setString stores an environment value in v, or says what is wrong with it.
func setString(v reflect.Value, kind reflect.Kind, s string) string {
	switch kind {
	case reflect.String:
		v.SetString(s)
	case reflect.Int:
		n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
		if err != nil || v.OverflowInt(n) {
			return fmt.Sprintf("expected %s, got %q", expected(kind), s)
		}
		v.SetInt(n)
	case reflect.Float64:
		n, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
		if err != nil {
			return fmt.Sprintf("expected %s, got %q", expected(kind), s)
		}
		v.SetFloat(n)
	case reflect.Struct: // List
		v.Set(reflect.ValueOf(NewList(strings.Split(s, ",")...)))
	}
	return ""
}

func expected(kind reflect.Kind) string {
	switch kind {
	case reflect.Int:
		return "an integer"
	case reflect.Float64:
		return "a number"
	case reflect.Struct:
		return "an array of strings"
	default:
		return "a string"
	}
}

// describe names a decoded TOML value's type and shows it.
func describe(raw any) string {
	switch v := raw.(type) {
	case string:
		return fmt.Sprintf("string %q", v)
	case int64:
		return fmt.Sprintf("integer %d", v)
	case float64:
		return fmt.Sprintf("float %v", v)
	case bool:
		return fmt.Sprintf("boolean %t", v)
	case map[string]any:
		return "a table"
	case []any:
		return "an array"
	case time.Time, toml.LocalDate, toml.LocalTime, toml.LocalDateTime:
		return fmt.Sprintf("date/time %v", v)
	default:
		return fmt.Sprintf("%T", v)
	}
}

// keyHint suggests the nearest known key of section for an unknown name.
func keyHint(section, name string, env bool) string {
	var names []string
	for _, f := range keys.fields {
		if f.section == section {
			names = append(names, f.name)
		}
	}
	if best := nearest(name, names); best != "" {
		if env {
			return "did you mean " + keys.byKey[section+"."+best].env + "?"
		}
		return fmt.Sprintf("did you mean %q?", section+"."+best)
	}
	return fmt.Sprintf("[%s] has %s", section, strings.Join(names, ", "))
}

// sectionHint suggests the nearest known section for an unknown one, or
// the section a top-level key belongs in.
func sectionHint(name string) string {
	for _, f := range keys.fields {
		if f.name == name {
			return fmt.Sprintf("keys belong in a section: put it under [%s]", f.section)
		}
	}
	if best := nearest(name, keys.sections); best != "" {
		return fmt.Sprintf("did you mean [%s]?", best)
	}
	return "sections are " + strings.Join(keys.sections, ", ")
}

// nearest returns the candidate within a small edit distance of s, or "".
func nearest(s string, candidates []string) string {
	best, bestD := "", 4
	for _, c := range candidates {
		if d := editDistance(s, c); d < bestD {
			best, bestD = c, d
		}
	}
	return best
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
