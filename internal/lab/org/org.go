// Package org is the lab's simulated Exchange organisation: the data model
// (servers, certificates, virtual directories, Outlook Anywhere, the
// Autodiscover SCP, the organization config, POP/IMAP settings, mailboxes
// with their CAS flags, groups with nested members, dynamic distribution
// groups, and the two DNS zones; an Edge Transport server and mailboxes of
// a child domain when the organisation is a forest),
// Exchange-style identity resolution over it, its atomic persistence in
// DIR/org.json and its canonical JSON rendering (what `GET /org` serves and
// DIR/org.initial.json holds).
//
// Field names follow Exchange's property names so that the canonical JSON
// reads like the real objects. Fields marked volatile (WhenChanged, the SOA
// serial) and secret (private keys, passwords) are persisted but left out of
// the canonical form.
package org

import (
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
)

// Org is the whole simulated organisation. Guard it with a Store; the
// identity helpers keep a lazily built index that assumes the caller holds
// the Store's lock.
type Org struct {
	Name             string `json:"Name"`             // organisation name, e.g. "Contoso"
	Domain           string `json:"Domain"`           // AD/DNS domain, e.g. "contoso.test"
	NetBIOS          string `json:"NetBIOS"`          // e.g. "CONTOSO"
	DomainController string `json:"DomainController"` // e.g. "DC01.contoso.test"; named in not-found errors

	Servers            []*Server              `json:"Servers"`
	Certificates       []*Certificate         `json:"Certificates"`
	VirtualDirectories []*VDir                `json:"VirtualDirectories"`
	OutlookAnywhere    []*OutlookAnywhere     `json:"OutlookAnywhere"`
	ClientAccess       []*ClientAccessService `json:"ClientAccess"`
	Config             OrganizationConfig     `json:"Config"`
	PopSettings        []*ProtocolSettings    `json:"PopSettings"`
	ImapSettings       []*ProtocolSettings    `json:"ImapSettings"`
	Mailboxes          []*Mailbox             `json:"Mailboxes"`
	Groups             []*Group               `json:"Groups"`
	// DynamicGroups are the dynamic distribution groups; absent from the
	// JSON when there are none, so that organisations without any keep
	// their canonical form.
	DynamicGroups []*DynamicGroup `json:"DynamicGroups,omitempty"`
	Zones         []*Zone         `json:"Zones"`

	// Generation is the Store's bookkeeping: it counts rewrites of
	// org.json so that a journal left over from before the last rewrite is
	// recognised and ignored. It is not part of the organisation and not
	// in the canonical JSON.
	Generation uint64 `json:"Generation,omitzero"`

	idx index
}

// Server is one Exchange server.
type Server struct {
	Name                      string    `json:"Name"` // "EX01"
	Fqdn                      string    `json:"Fqdn"` // "ex01.contoso.test"
	Guid                      uuid.UUID `json:"Guid"`
	DatabaseAvailabilityGroup string    `json:"DatabaseAvailabilityGroup,omitempty"` // "DAG01"; empty when not in a DAG
	AdminDisplayVersion       string    `json:"AdminDisplayVersion"`                 // "Version 15.2 (Build 1544.4)"
	Edition                   string    `json:"Edition"`                             // "Enterprise"
	ServerRole                string    `json:"ServerRole"`                          // "Mailbox", or "Edge" for an Edge Transport server
	Site                      string    `json:"Site"`                                // "contoso.test/Configuration/Sites/Default-First-Site-Name"
	WhenCreated               time.Time `json:"WhenCreated"`
}

// RoleEdge is the ServerRole of an Edge Transport server.
const RoleEdge = "Edge"

// IsEdge reports whether the server is an Edge Transport server: outside
// the domain, with no client access services, never in a DAG.
func (s *Server) IsEdge() bool { return strings.EqualFold(s.ServerRole, RoleEdge) }

// Services is Exchange's AllowedServices flags enum.
type Services uint32

// The AllowedServices flag values, as .NET defines them.
const (
	ServiceNone         Services = 0
	ServiceIMAP         Services = 1
	ServicePOP          Services = 2
	ServiceUM           Services = 4
	ServiceIIS          Services = 8
	ServiceSMTP         Services = 16
	ServiceFederation   Services = 32
	ServiceUMCallRouter Services = 64
)

var serviceNames = []struct {
	v Services
	n string
}{
	{ServiceIMAP, "IMAP"}, {ServicePOP, "POP"}, {ServiceUM, "UM"}, {ServiceIIS, "IIS"},
	{ServiceSMTP, "SMTP"}, {ServiceFederation, "Federation"}, {ServiceUMCallRouter, "UMCallRouter"},
}

// String renders the flags as .NET does: "None" or names in ascending value
// order joined by ", " (e.g. "IMAP, POP, IIS, SMTP").
func (s Services) String() string {
	if s == 0 {
		return "None"
	}
	var parts []string
	for _, f := range serviceNames {
		if s&f.v != 0 {
			parts = append(parts, f.n)
		}
	}
	return strings.Join(parts, ", ")
}

// ParseServices reads flags names separated by commas, case-insensitively
// ("IIS, SMTP", "iis,smtp", "None"). ok is false for an unknown name.
func ParseServices(text string) (s Services, ok bool) {
	for _, p := range strings.Split(text, ",") {
		p = strings.TrimSpace(p)
		if p == "" {
			continue
		}
		if strings.EqualFold(p, "None") {
			continue
		}
		found := false
		for _, f := range serviceNames {
			if strings.EqualFold(p, f.n) {
				s |= f.v
				found = true
			}
		}
		if !found {
			return 0, false
		}
	}
	return s, true
}

// MarshalText renders the flags in their string form.
func (s Services) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText reads the string form.
func (s *Services) UnmarshalText(b []byte) error {
	v, ok := ParseServices(string(b))
	if !ok {
		return &InvalidValueError{Value: string(b), Type: "Microsoft.Exchange.Management.SystemConfigurationTasks.AllowedServices"}
	}
	*s = v
	return nil
}

// Certificate statuses.
const (
	CertValid          = "Valid"
	CertPendingRequest = "PendingRequest"
)

// Certificate is one certificate in one server's computer store. The same
// certificate on two servers is two Certificates with the same Thumbprint.
type Certificate struct {
	Server               string    `json:"Server"`
	Thumbprint           string    `json:"Thumbprint"` // 40 upper-case hex digits
	Subject              string    `json:"Subject"`
	Issuer               string    `json:"Issuer"`
	SerialNumber         string    `json:"SerialNumber"`
	FriendlyName         string    `json:"FriendlyName"`
	CertificateDomains   []string  `json:"CertificateDomains,omitempty"`
	NotBefore            time.Time `json:"NotBefore"`
	NotAfter             time.Time `json:"NotAfter"`
	Services             Services  `json:"Services"`
	HasPrivateKey        bool      `json:"HasPrivateKey"`
	PrivateKeyExportable bool      `json:"PrivateKeyExportable"`
	IsSelfSigned         bool      `json:"IsSelfSigned"`
	KeySize              int       `json:"KeySize"`
	SignatureAlgorithm   string    `json:"SignatureAlgorithm"` // "sha256RSA", "sha1RSA"
	Status               string    `json:"Status"`             // CertValid or CertPendingRequest
	CertPEM              string    `json:"CertPEM,omitempty"`
	RequestPEM           string    `json:"RequestPEM,omitempty"` // the CSR of a pending request
	// KeyPEM is the private key (PKCS#8 PEM). Secret: persisted, never in the
	// canonical JSON, never printed by cmdlets.
	KeyPEM string `json:"KeyPEM,omitempty"`
}

// VDir kinds.
const (
	KindOwa          = "Owa"
	KindEcp          = "Ecp"
	KindMapi         = "Mapi"
	KindWebServices  = "WebServices"
	KindActiveSync   = "ActiveSync"
	KindOab          = "Oab"
	KindAutodiscover = "Autodiscover"
	KindPowerShell   = "PowerShell"
)

// VDirKinds lists every kind in a stable order.
var VDirKinds = []string{KindOwa, KindEcp, KindMapi, KindWebServices, KindActiveSync, KindOab, KindAutodiscover, KindPowerShell}

// VDir is one IIS virtual directory of one server.
type VDir struct {
	Kind   string    `json:"Kind"`
	Server string    `json:"Server"`
	Name   string    `json:"Name"` // "owa (Default Web Site)"
	Guid   uuid.UUID `json:"Guid"`
	// InternalUrl and ExternalUrl are nil for $null.
	InternalUrl                     *string   `json:"InternalUrl"`
	ExternalUrl                     *string   `json:"ExternalUrl"`
	InternalAuthenticationMethods   []string  `json:"InternalAuthenticationMethods,omitempty"`
	ExternalAuthenticationMethods   []string  `json:"ExternalAuthenticationMethods,omitempty"`
	IISAuthenticationMethods        []string  `json:"IISAuthenticationMethods,omitempty"` // MAPI: Ntlm, OAuth, Negotiate
	BasicAuthentication             bool      `json:"BasicAuthentication"`
	WindowsAuthentication           bool      `json:"WindowsAuthentication"`
	DigestAuthentication            bool      `json:"DigestAuthentication"`
	FormsAuthentication             bool      `json:"FormsAuthentication"`
	OAuthAuthentication             bool      `json:"OAuthAuthentication"`
	AdfsAuthentication              bool      `json:"AdfsAuthentication"`
	RequireSSL                      bool      `json:"RequireSSL"`
	ExtendedProtectionTokenChecking string    `json:"ExtendedProtectionTokenChecking"` // None|Allow|Require
	ExtendedProtectionFlags         []string  `json:"ExtendedProtectionFlags,omitempty"`
	ExtendedProtectionSPNList       []string  `json:"ExtendedProtectionSPNList,omitempty"`
	WhenCreated                     time.Time `json:"WhenCreated"`
	WhenChanged                     time.Time `json:"WhenChanged,omitzero"` // volatile
}

// Identity is "SERVER\name (Default Web Site)".
func (v *VDir) Identity() string { return v.Server + `\` + v.Name }

// OutlookAnywhere is one server's RPC over HTTP configuration.
type OutlookAnywhere struct {
	Server                             string    `json:"Server"`
	Name                               string    `json:"Name"` // "Rpc (Default Web Site)"
	Guid                               uuid.UUID `json:"Guid"`
	InternalHostname                   *string   `json:"InternalHostname"`
	ExternalHostname                   *string   `json:"ExternalHostname"`
	InternalClientsRequireSsl          bool      `json:"InternalClientsRequireSsl"`
	ExternalClientsRequireSsl          bool      `json:"ExternalClientsRequireSsl"`
	InternalClientAuthenticationMethod string    `json:"InternalClientAuthenticationMethod"` // Basic|Ntlm|Negotiate
	ExternalClientAuthenticationMethod string    `json:"ExternalClientAuthenticationMethod"`
	IISAuthenticationMethods           []string  `json:"IISAuthenticationMethods,omitempty"`
	SSLOffloading                      bool      `json:"SSLOffloading"`
	ExtendedProtectionTokenChecking    string    `json:"ExtendedProtectionTokenChecking"`
	WhenCreated                        time.Time `json:"WhenCreated"`
	WhenChanged                        time.Time `json:"WhenChanged,omitzero"` // volatile
}

// Identity is "SERVER\Rpc (Default Web Site)".
func (o *OutlookAnywhere) Identity() string { return o.Server + `\` + o.Name }

// ClientAccessService is one server's client access settings, chiefly the
// Autodiscover service connection point.
type ClientAccessService struct {
	Server                         string    `json:"Server"`
	Guid                           uuid.UUID `json:"Guid"`
	AutoDiscoverServiceInternalUri *string   `json:"AutoDiscoverServiceInternalUri"`
	AutoDiscoverSiteScope          []string  `json:"AutoDiscoverSiteScope,omitempty"`
	WhenChanged                    time.Time `json:"WhenChanged,omitzero"` // volatile
}

// OrganizationConfig is Get-OrganizationConfig's subset the lab models.
type OrganizationConfig struct {
	Name            string    `json:"Name"`
	Guid            uuid.UUID `json:"Guid"`
	MapiHttpEnabled bool      `json:"MapiHttpEnabled"`
	WhenChanged     time.Time `json:"WhenChanged,omitzero"` // volatile
}

// ProtocolSettings is one server's POP3 or IMAP4 service settings.
type ProtocolSettings struct {
	Server                     string    `json:"Server"`
	X509CertificateName        *string   `json:"X509CertificateName"`
	LoginType                  string    `json:"LoginType"` // PlainTextLogin|PlainTextAuthentication|SecureLogin
	InternalConnectionSettings []string  `json:"InternalConnectionSettings,omitempty"`
	ExternalConnectionSettings []string  `json:"ExternalConnectionSettings,omitempty"`
	SSLBindings                []string  `json:"SSLBindings,omitempty"`
	UnencryptedOrTLSBindings   []string  `json:"UnencryptedOrTLSBindings,omitempty"`
	ProtocolLogEnabled         bool      `json:"ProtocolLogEnabled"`
	WhenChanged                time.Time `json:"WhenChanged,omitzero"` // volatile
}

// Recipient type details the lab uses.
const (
	UserMailbox                    = "UserMailbox"
	SharedMailbox                  = "SharedMailbox"
	RoomMailbox                    = "RoomMailbox"
	EquipmentMailbox               = "EquipmentMailbox"
	MailUniversalSecurityGroup     = "MailUniversalSecurityGroup"
	MailUniversalDistributionGroup = "MailUniversalDistributionGroup"
)

// Mailbox is one mailbox with its user and its CAS (client access) flags.
type Mailbox struct {
	Guid                 uuid.UUID `json:"Guid"`
	ExchangeGuid         uuid.UUID `json:"ExchangeGuid"`
	Name                 string    `json:"Name"`
	Alias                string    `json:"Alias"`
	DisplayName          string    `json:"DisplayName"`
	PrimarySmtpAddress   string    `json:"PrimarySmtpAddress"`
	EmailAddresses       []string  `json:"EmailAddresses,omitempty"` // "SMTP:primary", "smtp:secondary"
	SamAccountName       string    `json:"SamAccountName"`
	DistinguishedName    string    `json:"DistinguishedName"`
	UserPrincipalName    string    `json:"UserPrincipalName"`
	LegacyExchangeDN     string    `json:"LegacyExchangeDN"`
	RecipientTypeDetails string    `json:"RecipientTypeDetails"`
	ServerName           string    `json:"ServerName"` // lower-case server name, as Exchange shows it
	Database             string    `json:"Database"`
	WhenCreated          time.Time `json:"WhenCreated"`
	WhenChanged          time.Time `json:"WhenChanged,omitzero"` // volatile
	// Department and CustomAttribute1 are what dynamic distribution
	// groups' filters select on; empty when unset.
	Department       string `json:"Department,omitempty"`
	CustomAttribute1 string `json:"CustomAttribute1,omitempty"`

	// CAS flags.
	ActiveSyncEnabled                    bool   `json:"ActiveSyncEnabled"`
	OWAEnabled                           bool   `json:"OWAEnabled"`
	OWAforDevicesEnabled                 bool   `json:"OWAforDevicesEnabled"`
	ECPEnabled                           bool   `json:"ECPEnabled"`
	EwsEnabled                           bool   `json:"EwsEnabled"`
	PopEnabled                           bool   `json:"PopEnabled"`
	ImapEnabled                          bool   `json:"ImapEnabled"`
	MAPIEnabled                          bool   `json:"MAPIEnabled"`
	MapiHttpEnabled                      *bool  `json:"MapiHttpEnabled"` // nil: the organisation's setting applies
	MAPIBlockOutlookNonCachedMode        bool   `json:"MAPIBlockOutlookNonCachedMode"`
	MAPIBlockOutlookVersions             string `json:"MAPIBlockOutlookVersions,omitempty"`
	MAPIBlockOutlookRpcHttp              bool   `json:"MAPIBlockOutlookRpcHttp"`
	MAPIBlockOutlookExternalConnectivity bool   `json:"MAPIBlockOutlookExternalConnectivity"`

	// Password lets lab users authenticate Autodiscover probes. Secret:
	// persisted, never in the canonical JSON.
	Password string `json:"Password,omitempty"`
}

// Group is a mail-enabled group. Members holds the GUIDs of member
// mailboxes and groups (nesting allowed).
type Group struct {
	Guid                 uuid.UUID   `json:"Guid"`
	Name                 string      `json:"Name"`
	Alias                string      `json:"Alias"`
	DisplayName          string      `json:"DisplayName"`
	DistinguishedName    string      `json:"DistinguishedName"`
	PrimarySmtpAddress   string      `json:"PrimarySmtpAddress"`
	SamAccountName       string      `json:"SamAccountName"`
	LegacyExchangeDN     string      `json:"LegacyExchangeDN"`
	RecipientTypeDetails string      `json:"RecipientTypeDetails"` // MailUniversalSecurityGroup|MailUniversalDistributionGroup
	Members              []uuid.UUID `json:"Members,omitempty"`
	WhenCreated          time.Time   `json:"WhenCreated"`
}

// DynamicGroup is a dynamic distribution group: its members are the
// recipients its RecipientFilter (OPATH) selects in its RecipientContainer.
type DynamicGroup struct {
	Guid               uuid.UUID `json:"Guid"`
	Name               string    `json:"Name"`
	Alias              string    `json:"Alias"`
	DisplayName        string    `json:"DisplayName"`
	DistinguishedName  string    `json:"DistinguishedName"`
	PrimarySmtpAddress string    `json:"PrimarySmtpAddress"`
	LegacyExchangeDN   string    `json:"LegacyExchangeDN"`
	RecipientFilter    string    `json:"RecipientFilter"`
	// RecipientContainer is the DN of the container the filter applies
	// in (the domain, or an OU).
	RecipientContainer string    `json:"RecipientContainer"`
	WhenCreated        time.Time `json:"WhenCreated"`
}

// DomainOf is the DNS domain a recipient's DN lies in
// ("CN=x,OU=Users,DC=emea,DC=contoso,DC=test" → "emea.contoso.test").
func DomainOf(dn string) string {
	d, _, _ := strings.Cut(CanonicalName(dn), "/")
	return d
}

// Zone is one authoritative DNS zone the lab serves ("internal" or "public").
type Zone struct {
	View    string   `json:"View"` // "internal" or "public"
	Name    string   `json:"Name"` // "contoso.test."
	SOA     SOA      `json:"SOA"`
	NS      []string `json:"NS"`
	Records []Record `json:"Records"`
}

// SOA holds the zone's start of authority. Serial is volatile.
type SOA struct {
	MName   string `json:"MName"`
	RName   string `json:"RName"`
	Serial  uint32 `json:"Serial,omitzero"` // volatile
	Refresh uint32 `json:"Refresh"`
	Retry   uint32 `json:"Retry"`
	Expire  uint32 `json:"Expire"`
	Minimum uint32 `json:"Minimum"`
	TTL     uint32 `json:"TTL"`
}

// Record is one resource record in presentation form: Name is an absolute
// owner name ("outlook.contoso.test."), Data the RDATA text ("192.0.2.10").
type Record struct {
	Name string `json:"Name"`
	Type string `json:"Type"`
	TTL  uint32 `json:"TTL"`
	Data string `json:"Data"`
}

// index is the lazily built identity index, in two halves: mailboxes
// (rebuilt after mailbox changes) and groups (rebuilt after any other
// change). Its own mutex lets concurrent readers build it once.
type index struct {
	mu       sync.Mutex
	mbxBuilt bool
	grpBuilt bool
	mbx      map[string][]*Mailbox
	mbxByID  map[uuid.UUID]*Mailbox
	grp      map[string][]*Group
	grpByID  map[uuid.UUID]*Group
}
