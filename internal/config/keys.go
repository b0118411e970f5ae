package config

import (
	"reflect"
	"sort"
	"strings"
	"sync"

	"github.com/exrunbook/exrunbook/internal/editdistance"
)

// leafKind is the type of a config key's value.
type leafKind int

const (
	kindString leafKind = iota
	kindBool
	kindInt
	kindDuration
	kindList
	kindMap
)

// keyInfo describes one config key (a leaf of the YAML tree).
type keyInfo struct {
	Path  string // dotted, e.g. "public_dns.tsig.name"
	Index []int  // field index path into Config
	Kind  leafKind
}

var (
	keysOnce    sync.Once
	keyList     []keyInfo
	keyByPath   map[string]keyInfo
	sectionList map[string][]string // section path → its child names ("" is the root)
)

func loadKeys() {
	keysOnce.Do(func() {
		keyByPath = map[string]keyInfo{}
		sectionList = map[string][]string{}
		walkKeys(reflect.TypeOf(Config{}), "", nil)
		for _, k := range keyList {
			keyByPath[k.Path] = k
		}
		for s := range sectionList {
			sort.Strings(sectionList[s])
		}
	})
}

var durationType = reflect.TypeOf(Duration(0))

func walkKeys(t reflect.Type, prefix string, index []int) {
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		tag := f.Tag.Get("yaml")
		if tag == ",inline" && f.Anonymous && f.Type.Kind() == reflect.Struct {
			// An embedded block's keys are the enclosing section's own.
			walkKeys(f.Type, prefix, append(append([]int(nil), index...), i))
			continue
		}
		if tag == "" || tag == "-" || !f.IsExported() {
			continue
		}
		path := tag
		if prefix != "" {
			path = prefix + "." + tag
		}
		sectionList[prefix] = append(sectionList[prefix], tag)
		idx := append(append([]int(nil), index...), i)
		var kind leafKind
		switch {
		case f.Type == durationType:
			kind = kindDuration
		case f.Type.Kind() == reflect.Struct:
			walkKeys(f.Type, path, idx)
			continue
		case f.Type.Kind() == reflect.String:
			kind = kindString
		case f.Type.Kind() == reflect.Bool:
			kind = kindBool
		case f.Type.Kind() == reflect.Int:
			kind = kindInt
		case f.Type.Kind() == reflect.Slice:
			kind = kindList
		case f.Type.Kind() == reflect.Map:
			kind = kindMap
		default:
			panic("config: unsupported field type " + f.Type.String())
		}
		keyList = append(keyList, keyInfo{Path: path, Index: idx, Kind: kind})
	}
}

// Keys returns every config key, dotted ("exchange.endpoint", ...), in the
// order of the Config struct.
func Keys() []string {
	loadKeys()
	out := make([]string, len(keyList))
	for i, k := range keyList {
		out[i] = k.Path
	}
	return out
}

// EnvName returns the environment variable that sets key:
// EXRUNBOOK_ followed by the key in upper case with dots as underscores
// (public_dns.tsig.name → EXRUNBOOK_PUBLIC_DNS_TSIG_NAME).
func EnvName(key string) string {
	return "EXRUNBOOK_" + strings.ToUpper(strings.ReplaceAll(key, ".", "_"))
}

func isSection(path string) bool {
	loadKeys()
	_, ok := sectionList[path]
	return ok
}

// nearestKey suggests the known key closest to an unknown one, preferring
// keys of the same section and exact leaf-name matches elsewhere.
func nearestKey(unknown string) string {
	loadKeys()
	leaf := unknown
	parent := ""
	if i := strings.LastIndex(unknown, "."); i >= 0 {
		parent, leaf = unknown[:i], unknown[i+1:]
	}
	candidates := make([]string, 0, len(keyList)+len(sectionList))
	for _, k := range keyList {
		candidates = append(candidates, k.Path)
	}
	for s := range sectionList {
		if s != "" {
			candidates = append(candidates, s)
		}
	}
	sort.Strings(candidates)
	best, bestScore := "", 1<<30
	for _, c := range candidates {
		cParent, cLeaf := "", c
		if i := strings.LastIndex(c, "."); i >= 0 {
			cParent, cLeaf = c[:i], c[i+1:]
		}
		var score int
		switch {
		case cLeaf == leaf && cParent != parent:
			score = 1 // the right name in the wrong section
		case cParent == parent && len(leaf) >= 3 && (strings.HasPrefix(cLeaf, leaf) || strings.HasPrefix(leaf, cLeaf)):
			score = 2 // an abbreviation or an extension
		case cParent == parent:
			score = editdistance.Distance(leaf, cLeaf) * 2
		default:
			score = editdistance.Distance(unknown, c)*2 + 3
		}
		// On a tie the shallower key wins: public_dns.zone before the
		// same leaf nested deeper (certificate.acme.challenge_dns.zone).
		if score < bestScore || score == bestScore && strings.Count(c, ".") < strings.Count(best, ".") {
			best, bestScore = c, score
		}
	}
	return best
}
