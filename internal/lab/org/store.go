package org

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"

	"github.com/google/uuid"

	"github.com/exrunbook/exrunbook/internal/lab/atomicfile"
)

// File names inside the store's directory.
const (
	FileOrg     = "org.json"         // the current organisation (full, with secrets and volatile data)
	FileInitial = "org.initial.json" // the first state, canonical form, written once
	FileJournal = "org.journal"      // mailbox changes since org.json was last written
)

// compactAfter is how many journalled mailbox changes trigger a rewrite of
// org.json (and an empty journal).
const compactAfter = 5000

// Store guards an Org with a lock and persists it in a directory after every
// change: whole-organisation changes (Update) rewrite DIR/org.json
// atomically (temp file, fsync, rename, directory fsync); single-mailbox
// changes (UpdateMailbox) and changes that leave the mailboxes alone
// (UpdateRest) append one fsynced line to DIR/org.journal, which is replayed
// on load and folded into org.json every few thousand lines and on Close. A Store opened on a directory that
// already holds org.json continues from it.
type Store struct {
	dir string

	mu       sync.RWMutex
	org      *Org
	journal  *os.File
	journalN int
}

// OpenOrCreate opens the store in dir. If dir/org.json exists it is loaded
// (and the journal replayed); otherwise gen is called to make the first
// organisation, which is written to org.json and, in canonical form, to
// org.initial.json.
func OpenOrCreate(dir string, gen func() (*Org, error)) (*Store, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	s := &Store{dir: dir}
	data, err := os.ReadFile(filepath.Join(dir, FileOrg))
	switch {
	case err == nil:
		o := &Org{}
		if err := json.Unmarshal(data, o); err != nil {
			return nil, fmt.Errorf("org: %s: %w", filepath.Join(dir, FileOrg), err)
		}
		s.org = o
		if err := s.replayJournal(); err != nil {
			return nil, err
		}
	case errors.Is(err, os.ErrNotExist):
		o, err := gen()
		if err != nil {
			return nil, err
		}
		s.org = o
		if err := atomicfile.Write(filepath.Join(dir, FileOrg), mustMarshal(o), 0o600); err != nil {
			return nil, err
		}
		os.Remove(filepath.Join(dir, FileJournal))
	default:
		return nil, err
	}
	if _, err := os.Stat(filepath.Join(dir, FileInitial)); errors.Is(err, os.ErrNotExist) {
		if err := atomicfile.Write(filepath.Join(dir, FileInitial), Canonical(s.org), 0o600); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// NewMemory returns a Store that keeps o in memory only (for tests and
// throw-away labs).
func NewMemory(o *Org) *Store { return &Store{org: o} }

// Dir is the directory the store persists to ("" for a memory store).
func (s *Store) Dir() string { return s.dir }

// Read calls fn with the organisation under a read lock. fn must not keep
// pointers into the organisation after it returns, nor modify it.
func (s *Store) Read(fn func(*Org)) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	fn(s.org)
}

// Update calls fn with the organisation under the write lock and, if fn
// returns nil, persists the whole organisation. If fn returns an error the
// error is returned; fn must then have left the organisation unchanged.
// The identity index is rebuilt lazily after every Update.
func (s *Store) Update(fn func(*Org) error) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	err := fn(s.org)
	s.org.InvalidateIndex()
	if err != nil {
		return err
	}
	return s.persistAll()
}

// UpdateMailbox calls fn on the mailbox with the given GUID under the write
// lock and, if fn returns nil, persists just that mailbox (one journal
// line). It is what Set-CASMailbox uses, so that a hundred thousand writes
// do not rewrite a hundred thousand mailboxes each.
func (s *Store) UpdateMailbox(id uuid.UUID, fn func(*Mailbox) error) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := s.org.MailboxByGuid(id)
	if m == nil {
		return &NotFoundError{Identity: id.String(), DomainController: s.org.DomainController}
	}
	before := mailboxKeys(m)
	if err := fn(m); err != nil {
		return err
	}
	if mailboxKeys(m) != before {
		s.org.InvalidateIndex()
	}
	return s.journalAppend(journalEntry{Mailbox: m})
}

// UpdateRest is Update for changes that leave every mailbox alone
// (certificates, virtual directories, settings, groups, zones): it persists
// by appending the rest of the organisation, a few kilobytes, to the
// journal instead of rewriting org.json with all its mailboxes. fn must
// not change Mailboxes.
func (s *Store) UpdateRest(fn func(*Org) error) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	err := fn(s.org)
	s.org.invalidateGroups()
	if err != nil {
		return err
	}
	return s.journalAppend(journalEntry{Rest: restOf(s.org)})
}

// journalAppend appends one fsynced line, or folds everything into
// org.json when the journal is long. Callers hold the write lock.
func (s *Store) journalAppend(e journalEntry) error {
	if s.dir == "" {
		return nil
	}
	if s.journalN >= compactAfter {
		return s.persistAll()
	}
	line, err := json.Marshal(e)
	if err != nil {
		return err
	}
	if s.journal == nil {
		f, err := os.OpenFile(filepath.Join(s.dir, FileJournal), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
		if err != nil {
			return err
		}
		s.journal = f
		if st, err := f.Stat(); err == nil && st.Size() == 0 {
			g := s.org.Generation
			head, _ := json.Marshal(journalEntry{Generation: &g})
			if _, err := f.Write(append(head, '\n')); err != nil {
				return err
			}
		}
	}
	if _, err := s.journal.Write(append(line, '\n')); err != nil {
		return err
	}
	s.journalN++
	return s.journal.Sync()
}

// Canonical renders the organisation's canonical JSON (see Canonical).
func (s *Store) Canonical() []byte {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return Canonical(s.org)
}

// Initial returns the bytes of DIR/org.initial.json.
func (s *Store) Initial() ([]byte, error) {
	if s.dir == "" {
		return nil, errors.New("org: memory store has no initial file")
	}
	return os.ReadFile(filepath.Join(s.dir, FileInitial))
}

// Flush folds the journal into org.json.
func (s *Store) Flush() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.journalN == 0 {
		return nil
	}
	return s.persistAll()
}

// Close flushes and releases the journal file.
func (s *Store) Close() error {
	err := s.Flush()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.journal != nil {
		if cerr := s.journal.Close(); err == nil {
			err = cerr
		}
		s.journal = nil
	}
	return err
}

// journalEntry is one line of the journal. The first line of a journal is a
// header naming the Generation of the org.json it applies to.
type journalEntry struct {
	Generation *uint64  `json:"Generation,omitempty"`
	Mailbox    *Mailbox `json:"Mailbox,omitempty"`
	Rest       *orgRest `json:"Rest,omitempty"`
}

// orgRest is everything in an Org but its mailboxes: what UpdateRest
// journals. TestOrgRestCoversEveryField keeps it in step with Org.
type orgRest struct {
	Name               string                 `json:"Name"`
	Domain             string                 `json:"Domain"`
	NetBIOS            string                 `json:"NetBIOS"`
	DomainController   string                 `json:"DomainController"`
	Servers            []*Server              `json:"Servers"`
	Certificates       []*Certificate         `json:"Certificates"`
	VirtualDirectories []*VDir                `json:"VirtualDirectories"`
	OutlookAnywhere    []*OutlookAnywhere     `json:"OutlookAnywhere"`
	ClientAccess       []*ClientAccessService `json:"ClientAccess"`
	Config             OrganizationConfig     `json:"Config"`
	PopSettings        []*ProtocolSettings    `json:"PopSettings"`
	ImapSettings       []*ProtocolSettings    `json:"ImapSettings"`
	Groups             []*Group               `json:"Groups"`
	DynamicGroups      []*DynamicGroup        `json:"DynamicGroups,omitempty"`
	Zones              []*Zone                `json:"Zones"`
}

func restOf(o *Org) *orgRest {
	return &orgRest{o.Name, o.Domain, o.NetBIOS, o.DomainController, o.Servers, o.Certificates, o.VirtualDirectories,
		o.OutlookAnywhere, o.ClientAccess, o.Config, o.PopSettings, o.ImapSettings, o.Groups, o.DynamicGroups, o.Zones}
}

func (r *orgRest) applyTo(o *Org) {
	o.Name, o.Domain, o.NetBIOS, o.DomainController = r.Name, r.Domain, r.NetBIOS, r.DomainController
	o.Servers, o.Certificates, o.VirtualDirectories, o.OutlookAnywhere = r.Servers, r.Certificates, r.VirtualDirectories, r.OutlookAnywhere
	o.ClientAccess, o.Config, o.PopSettings, o.ImapSettings = r.ClientAccess, r.Config, r.PopSettings, r.ImapSettings
	o.Groups, o.DynamicGroups, o.Zones = r.Groups, r.DynamicGroups, r.Zones
}

// persistAll writes org.json atomically and empties the journal. Callers
// hold the write lock.
func (s *Store) persistAll() error {
	if s.dir == "" {
		return nil
	}
	// A new generation: a journal that survives a crash between the rename
	// and its removal names the old one and is ignored on load.
	s.org.Generation++
	if err := atomicfile.Write(filepath.Join(s.dir, FileOrg), mustMarshal(s.org), 0o600); err != nil {
		return err
	}
	if s.journal != nil {
		s.journal.Close()
		s.journal = nil
	}
	s.journalN = 0
	if err := os.Remove(filepath.Join(s.dir, FileJournal)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}

// replayJournal applies journalled mailbox changes. A torn last line (a
// crash during the append) is ignored; a bad line before the last is an
// error.
func (s *Store) replayJournal() error {
	f, err := os.Open(filepath.Join(s.dir, FileJournal))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	defer f.Close()
	r := bufio.NewReader(f)
	for {
		line, err := r.ReadBytes('\n')
		if len(line) > 0 {
			complete := line[len(line)-1] == '\n'
			var e journalEntry
			if jerr := json.Unmarshal(bytes.TrimSpace(line), &e); jerr != nil || (e.Mailbox == nil && e.Rest == nil && e.Generation == nil) {
				if !complete {
					break
				}
				return fmt.Errorf("org: %s: bad journal line", filepath.Join(s.dir, FileJournal))
			}
			if !complete {
				break
			}
			if e.Generation != nil {
				if *e.Generation != s.org.Generation {
					// Written before org.json's last rewrite: already in it.
					f.Close()
					return os.Remove(filepath.Join(s.dir, FileJournal))
				}
				continue
			}
			if e.Rest != nil {
				e.Rest.applyTo(s.org)
				s.org.invalidateGroups()
			}
			if e.Mailbox != nil {
				if m := s.org.MailboxByGuid(e.Mailbox.Guid); m != nil {
					*m = *e.Mailbox
					s.org.InvalidateIndex()
				}
			}
			s.journalN++
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func mailboxKeys(m *Mailbox) string {
	return strings.Join(append([]string{m.Name, m.Alias, m.DisplayName, m.PrimarySmtpAddress, m.SamAccountName, m.UserPrincipalName, m.DistinguishedName}, m.EmailAddresses...), "\x00")
}

func mustMarshal(o *Org) []byte {
	b, err := json.Marshal(o)
	if err != nil {
		// Every field is a plain value; Marshal cannot fail.
		panic(err)
	}
	return b
}

// Canonical renders o's canonical JSON: every collection in a stable order
// (servers by name, certificates by server and thumbprint, virtual
// directories by server, kind and name, mailboxes and groups by GUID, group
// members by GUID, zones by view, records by name, type and data), without
// volatile metadata (WhenChanged, SOA serials) or secrets (private keys,
// passwords), empty and absent lists alike, indented by two spaces, with a
// trailing newline. Two organisations in the same configuration render
// byte for byte the same.
func Canonical(o *Org) []byte {
	var out bytes.Buffer
	if err := CanonicalTo(&out, o); err != nil {
		// Writing to a bytes.Buffer and encoding plain values cannot fail.
		panic(err)
	}
	return out.Bytes()
}

// CanonicalTo writes o's canonical JSON (see Canonical) to w. The
// mailboxes are encoded one at a time, so a 100,000-mailbox organisation
// streams without a second copy of itself in memory.
func CanonicalTo(w io.Writer, o *Org) error {
	c, mbx := canonicalOrg(o)
	head, err := indentJSON(c, "")
	if err != nil {
		return err
	}
	marker := []byte("\n  \"Mailboxes\": null,\n")
	i := bytes.Index(head, marker)
	if i < 0 {
		return errors.New("org: canonical form lost its Mailboxes key")
	}
	bw := bufio.NewWriterSize(w, 256<<10)
	bw.Write(head[:i])
	bw.WriteString("\n  \"Mailboxes\": ")
	if len(mbx) == 0 {
		bw.WriteString("[]")
	} else {
		bw.WriteString("[\n")
		var one bytes.Buffer
		enc := json.NewEncoder(&one)
		enc.SetEscapeHTML(false)
		enc.SetIndent("    ", "  ")
		for k, p := range mbx {
			m := *p
			m.WhenChanged = zeroTime
			m.Password = ""
			one.Reset()
			if err := enc.Encode(&m); err != nil {
				return err
			}
			bw.WriteString("    ")
			bw.Write(bytes.TrimSuffix(one.Bytes(), []byte("\n")))
			if k < len(mbx)-1 {
				bw.WriteString(",\n")
			} else {
				bw.WriteString("\n")
			}
		}
		bw.WriteString("  ]")
	}
	bw.WriteString(",\n")
	bw.Write(head[i+len(marker):])
	return bw.Flush()
}

// indentJSON encodes v as the canonical form does: no HTML escaping, two
// spaces, trailing newline.
func indentJSON(v any, prefix string) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.SetIndent(prefix, "  ")
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// canonicalOrg builds the canonical copy of o without its mailboxes, and
// the mailboxes sorted by GUID (pointers into o: CanonicalTo copies and
// cleans each one as it encodes it).
func canonicalOrg(o *Org) (*Org, []*Mailbox) {
	c := &Org{Name: o.Name, Domain: o.Domain, NetBIOS: o.NetBIOS, DomainController: o.DomainController}

	c.Servers = sortedCopy(o.Servers, func(x *Server) *Server { return x },
		func(a, b *Server) bool { return lessFold(a.Name, b.Name) })
	c.Certificates = sortedCopy(o.Certificates, func(x *Certificate) *Certificate {
		x.KeyPEM = ""
		x.CertificateDomains = emptyNil(x.CertificateDomains)
		return x
	}, func(a, b *Certificate) bool {
		if !strings.EqualFold(a.Server, b.Server) {
			return lessFold(a.Server, b.Server)
		}
		return a.Thumbprint < b.Thumbprint
	})
	c.VirtualDirectories = sortedCopy(o.VirtualDirectories, func(x *VDir) *VDir {
		x.WhenChanged = zeroTime
		return x
	}, func(a, b *VDir) bool {
		if !strings.EqualFold(a.Server, b.Server) {
			return lessFold(a.Server, b.Server)
		}
		if a.Kind != b.Kind {
			return a.Kind < b.Kind
		}
		return lessFold(a.Name, b.Name)
	})
	c.OutlookAnywhere = sortedCopy(o.OutlookAnywhere, func(x *OutlookAnywhere) *OutlookAnywhere {
		x.WhenChanged = zeroTime
		return x
	}, func(a, b *OutlookAnywhere) bool { return lessFold(a.Server, b.Server) })
	c.ClientAccess = sortedCopy(o.ClientAccess, func(x *ClientAccessService) *ClientAccessService {
		x.WhenChanged = zeroTime
		return x
	}, func(a, b *ClientAccessService) bool { return lessFold(a.Server, b.Server) })
	c.Config = o.Config
	c.Config.WhenChanged = zeroTime
	proto := func(x *ProtocolSettings) *ProtocolSettings { x.WhenChanged = zeroTime; return x }
	byServer := func(a, b *ProtocolSettings) bool { return lessFold(a.Server, b.Server) }
	c.PopSettings = sortedCopy(o.PopSettings, proto, byServer)
	c.ImapSettings = sortedCopy(o.ImapSettings, proto, byServer)
	mbx := make([]*Mailbox, 0, len(o.Mailboxes))
	for _, m := range o.Mailboxes {
		if m != nil {
			mbx = append(mbx, m)
		}
	}
	// Byte order of GUIDs is the order of their texts.
	sort.Slice(mbx, func(i, j int) bool { return bytes.Compare(mbx[i].Guid[:], mbx[j].Guid[:]) < 0 })
	c.Groups = sortedCopy(o.Groups, func(x *Group) *Group {
		m := append([]uuid.UUID(nil), x.Members...)
		sort.Slice(m, func(i, j int) bool { return bytes.Compare(m[i][:], m[j][:]) < 0 })
		x.Members = m
		return x
	}, func(a, b *Group) bool { return bytes.Compare(a.Guid[:], b.Guid[:]) < 0 })
	if len(o.DynamicGroups) > 0 {
		c.DynamicGroups = sortedCopy(o.DynamicGroups, func(x *DynamicGroup) *DynamicGroup { return x },
			func(a, b *DynamicGroup) bool { return bytes.Compare(a.Guid[:], b.Guid[:]) < 0 })
	}
	c.Zones = sortedCopy(o.Zones, func(x *Zone) *Zone {
		x.SOA.Serial = 0
		x.NS = append([]string{}, x.NS...)
		r := make([]Record, len(x.Records))
		for i, rr := range x.Records {
			rr.Name = strings.ToLower(rr.Name)
			rr.Type = strings.ToUpper(rr.Type)
			r[i] = rr
		}
		sort.Slice(r, func(i, j int) bool {
			if r[i].Name != r[j].Name {
				return r[i].Name < r[j].Name
			}
			if r[i].Type != r[j].Type {
				return r[i].Type < r[j].Type
			}
			if r[i].Data != r[j].Data {
				return r[i].Data < r[j].Data
			}
			return r[i].TTL < r[j].TTL
		})
		x.Records = r
		return x
	}, func(a, b *Zone) bool { return a.View < b.View })

	return c, mbx
}

func emptyNil(s []string) []string {
	if len(s) == 0 {
		return nil
	}
	return s
}

func lessFold(a, b string) bool {
	la, lb := strings.ToLower(a), strings.ToLower(b)
	if la != lb {
		return la < lb
	}
	return a < b
}

// sortedCopy copies each element (a shallow struct copy), lets clean strip
// volatile and secret fields from the copy, and sorts the copies. An empty
// input gives an empty (not nil) slice so that JSON shows [].
func sortedCopy[T any](in []*T, clean func(*T) *T, less func(a, b *T) bool) []*T {
	out := make([]*T, 0, len(in))
	for _, x := range in {
		if x == nil {
			continue
		}
		cp := *x
		out = append(out, clean(&cp))
	}
	sort.SliceStable(out, func(i, j int) bool { return less(out[i], out[j]) })
	return out
}
