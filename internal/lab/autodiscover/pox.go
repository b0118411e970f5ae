// Package autodiscover is the lab's per-server HTTPS front end: a TLS
// listener on loopback that presents the certificate bound to IIS on that
// server (chosen by SNI among the IIS-bound certificates) and serves Outlook
// Autodiscover POX (POST /autodiscover/autodiscover.xml, path
// case-insensitive) for mailbox users authenticated with Basic, NTLM or
// Negotiate (NTLM inside, raw or SPNEGO-wrapped; the logon holds for the
// connection, as IIS keeps it).
//
// The answer follows [MS-OXDSCLI] (2.2.2.1, 3.2.5.1 and the 4.4 example) and
// Microsoft's "Configure MAPI over HTTP" and Set-CASMailbox pages: with a
// valid X-MapiHttpCapability header and MAPI over HTTP in effect for the
// mailbox (its own MapiHttpEnabled, or the organisation's when $null) it
// carries a mapiHttp Protocol (Version 1) with MailStore and AddressBook URLs
// built from the MAPI virtual directory and no top-level EXCH/EXPR; otherwise
// it carries EXCH, EXPR and WEB. MAPIBlockOutlookExternalConnectivity removes
// every external URL (mapiHttp ExternalUrl, EXPR, WEB/External);
// MAPIBlockOutlookRpcHttp removes Outlook Anywhere (EXCH and EXPR: since
// Exchange 2013 both are RPC over HTTP). Which elements change under a block
// is an inference from Microsoft's wording: no Microsoft source lists the
// elements one by one.
package autodiscover

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/exrunbook/exrunbook/internal/lab/org"
)

// XML namespaces (the http:// forms of MS-OXDSCLI's namespaces page and its
// 4.4 example; current docs print https://, a later link rewrite).
const (
	NSResponse        = "http://schemas.microsoft.com/exchange/autodiscover/responseschema/2006"
	NSOutlookResponse = "http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a"
	NSOutlookRequest  = "http://schemas.microsoft.com/exchange/autodiscover/outlook/requestschema/2006"
)

// Request is a parsed POX request.
type Request struct {
	EMailAddress             string
	LegacyDN                 string
	AcceptableResponseSchema string
}

// ErrInvalidRequest is a body that is not an Outlook POX request.
var ErrInvalidRequest = errors.New("autodiscover: invalid request")

// ParseRequest reads a POX request body. Namespaces are compared by their
// path, so the https:// spellings of the developer docs are accepted too.
func ParseRequest(body []byte) (Request, error) {
	var doc struct {
		XMLName xml.Name
		Request struct {
			EMailAddress             string `xml:"EMailAddress"`
			LegacyDN                 string `xml:"LegacyDN"`
			AcceptableResponseSchema string `xml:"AcceptableResponseSchema"`
		} `xml:"Request"`
	}
	dec := xml.NewDecoder(bytes.NewReader(body))
	dec.Strict = true
	if err := dec.Decode(&doc); err != nil {
		return Request{}, ErrInvalidRequest
	}
	if doc.XMLName.Local != "Autodiscover" || schemaPath(doc.XMLName.Space) != schemaPath(NSOutlookRequest) {
		return Request{}, ErrInvalidRequest
	}
	r := Request{
		EMailAddress:             strings.TrimSpace(doc.Request.EMailAddress),
		LegacyDN:                 strings.TrimSpace(doc.Request.LegacyDN),
		AcceptableResponseSchema: strings.TrimSpace(doc.Request.AcceptableResponseSchema),
	}
	if schemaPath(r.AcceptableResponseSchema) != schemaPath(NSOutlookResponse) {
		return Request{}, ErrInvalidRequest
	}
	if r.EMailAddress == "" && r.LegacyDN == "" {
		return Request{}, ErrInvalidRequest
	}
	return r, nil
}

func schemaPath(ns string) string {
	ns = strings.ToLower(strings.TrimSpace(ns))
	ns = strings.TrimPrefix(ns, "http://")
	return strings.TrimPrefix(ns, "https://")
}

// MapiCapability reads X-MapiHttpCapability: the version the server will
// answer with (1), or 0 when the header is absent or invalid (not an
// integer greater than zero), in which case the request is treated as if
// it had no header (MS-OXDSCLI 3.2.5.1).
func MapiCapability(header string) int {
	n, err := strconv.Atoi(strings.TrimSpace(header))
	if err != nil || n < 1 {
		return 0
	}
	return 1
}

type xmlResponse struct {
	XMLName  xml.Name `xml:"http://schemas.microsoft.com/exchange/autodiscover/responseschema/2006 Autodiscover"`
	Response xmlOutlook
}

type xmlOutlook struct {
	XMLName xml.Name `xml:"http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a Response"`
	User    xmlUser
	Account xmlAccount
}

type xmlUser struct {
	DisplayName             string
	LegacyDN                string
	AutoDiscoverSMTPAddress string
	DeploymentId            string
}

type xmlAccount struct {
	AccountType string
	Action      string
	Protocol    []xmlProtocol
}

type xmlProtocol struct {
	TypeAttr      string       `xml:"Type,attr,omitempty"`
	Version       string       `xml:"Version,attr,omitempty"`
	Type          string       `xml:"Type,omitempty"`
	Server        string       `xml:"Server,omitempty"`
	ServerDN      string       `xml:"ServerDN,omitempty"`
	ServerVersion string       `xml:"ServerVersion,omitempty"`
	MdbDN         string       `xml:"MdbDN,omitempty"`
	AD            string       `xml:"AD,omitempty"`
	ASUrl         string       `xml:"ASUrl,omitempty"`
	EwsUrl        string       `xml:"EwsUrl,omitempty"`
	EcpUrl        string       `xml:"EcpUrl,omitempty"`
	OOFUrl        string       `xml:"OOFUrl,omitempty"`
	OABUrl        string       `xml:"OABUrl,omitempty"`
	SSL           string       `xml:"SSL,omitempty"`
	AuthPackage   string       `xml:"AuthPackage,omitempty"`
	MailStore     *xmlUrls     `xml:"MailStore,omitempty"`
	AddressBook   *xmlUrls     `xml:"AddressBook,omitempty"`
	Internal      *xmlWebPlace `xml:"Internal,omitempty"`
	External      *xmlWebPlace `xml:"External,omitempty"`
}

type xmlUrls struct {
	InternalUrl string `xml:"InternalUrl,omitempty"`
	ExternalUrl string `xml:"ExternalUrl,omitempty"`
}

type xmlWebPlace struct {
	OWAUrl   []xmlOWAUrl
	Protocol *xmlSmallProtocol `xml:"Protocol,omitempty"`
}

type xmlOWAUrl struct {
	AuthenticationMethod string `xml:"AuthenticationMethod,attr"`
	URL                  string `xml:",chardata"`
}

type xmlSmallProtocol struct {
	Type  string
	ASUrl string `xml:"ASUrl,omitempty"`
}

type xmlErrorDoc struct {
	XMLName  xml.Name `xml:"http://schemas.microsoft.com/exchange/autodiscover/responseschema/2006 Autodiscover"`
	Response struct {
		XMLName xml.Name `xml:"http://schemas.microsoft.com/exchange/autodiscover/responseschema/2006 Response"`
		Error   struct {
			Time      string `xml:"Time,attr"`
			Id        string `xml:"Id,attr"`
			ErrorCode int
			Message   string
			DebugData string
		}
	}
}

// Error codes and messages Exchange answers with.
const (
	CodeNotFound       = 500
	MessageNotFound    = "The email address can't be found."
	CodeInvalidRequest = 600
	MessageInvalid     = "Invalid Request"
)

// RenderError renders an Autodiscover error response.
func RenderError(code int, message string, now time.Time, id uint32) []byte {
	var d xmlErrorDoc
	d.Response.Error.Time = now.UTC().Format("15:04:05.0000000")
	d.Response.Error.Id = strconv.FormatUint(uint64(id), 10)
	d.Response.Error.ErrorCode = code
	d.Response.Error.Message = message
	return marshal(d)
}

func marshal(v any) []byte {
	var b bytes.Buffer
	b.WriteString(xml.Header)
	enc := xml.NewEncoder(&b)
	enc.Indent("", "  ")
	if err := enc.Encode(v); err != nil {
		// Every value rendered here is a plain struct of strings.
		panic(err)
	}
	b.WriteByte('\n')
	return b.Bytes()
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

func vdirOf(o *org.Org, kind, server string) *org.VDir {
	for _, v := range o.ServerVDirs(kind, server) {
		return v
	}
	return nil
}

// owaAuth is the AuthenticationMethod text of the OWA URLs.
func owaAuth(v *org.VDir) string {
	var m []string
	if v.BasicAuthentication {
		m = append(m, "Basic")
	}
	if v.FormsAuthentication {
		m = append(m, "Fba")
	}
	if v.WindowsAuthentication {
		m = append(m, "Ntlm, WindowsIntegrated")
	}
	if len(m) == 0 {
		return "Fba"
	}
	return strings.Join(m, ", ")
}

func mapiURL(base, endpoint, mailboxID string) string {
	if base == "" {
		return ""
	}
	return strings.TrimRight(base, "/") + "/" + endpoint + "/?MailboxId=" + mailboxID
}

// MapiHttpInEffect reports whether MAPI over HTTP applies to the mailbox:
// its own setting, or the organisation's when it is $null.
func MapiHttpInEffect(o *org.Org, m *org.Mailbox) bool {
	if m.MapiHttpEnabled != nil {
		return *m.MapiHttpEnabled
	}
	return o.Config.MapiHttpEnabled
}

// Render builds the Autodiscover answer for mailbox m from server's
// virtual directories and Outlook Anywhere settings. mapiVersion is what
// MapiCapability returned.
func Render(o *org.Org, m *org.Mailbox, server string, mapiVersion int) []byte {
	domain := o.Domain
	if i := strings.LastIndexByte(m.PrimarySmtpAddress, '@'); i >= 0 {
		domain = m.PrimarySmtpAddress[i+1:]
	}
	mailboxID := m.ExchangeGuid.String() + "@" + domain
	blockExternal := m.MAPIBlockOutlookExternalConnectivity
	owa := vdirOf(o, org.KindOwa, server)
	ews := vdirOf(o, org.KindWebServices, server)
	ecp := vdirOf(o, org.KindEcp, server)
	oab := vdirOf(o, org.KindOab, server)
	mapi := vdirOf(o, org.KindMapi, server)
	var oa *org.OutlookAnywhere
	for _, x := range o.OutlookAnywhere {
		if strings.EqualFold(x.Server, server) {
			oa = x
			break
		}
	}
	internal := func(v *org.VDir) string {
		if v == nil {
			return ""
		}
		return deref(v.InternalUrl)
	}
	external := func(v *org.VDir) string {
		if v == nil || blockExternal {
			return ""
		}
		return deref(v.ExternalUrl)
	}
	srv, _ := o.FindServer(server)
	serverDN := "/o=" + o.Name + "/ou=Exchange Administrative Group (FYDIBOHF23SPDLT)/cn=Configuration/cn=Servers/cn=" + server
	resp := xmlResponse{Response: xmlOutlook{
		User: xmlUser{
			DisplayName:             m.DisplayName,
			LegacyDN:                m.LegacyExchangeDN,
			AutoDiscoverSMTPAddress: m.PrimarySmtpAddress,
			DeploymentId:            o.Config.Guid.String(),
		},
		Account: xmlAccount{AccountType: "email", Action: "settings"},
	}}
	acct := &resp.Response.Account
	useMapi := mapiVersion >= 1 && MapiHttpInEffect(o, m) && mapi != nil && (internal(mapi) != "" || external(mapi) != "")
	if useMapi {
		acct.Protocol = append(acct.Protocol, xmlProtocol{
			TypeAttr: "mapiHttp", Version: "1",
			MailStore:   &xmlUrls{InternalUrl: mapiURL(internal(mapi), "emsmdb", mailboxID), ExternalUrl: mapiURL(external(mapi), "emsmdb", mailboxID)},
			AddressBook: &xmlUrls{InternalUrl: mapiURL(internal(mapi), "nspi", mailboxID), ExternalUrl: mapiURL(external(mapi), "nspi", mailboxID)},
		})
	} else if !m.MAPIBlockOutlookRpcHttp {
		version := ""
		if srv != nil {
			version = serverVersion(srv.AdminDisplayVersion)
		}
		acct.Protocol = append(acct.Protocol, xmlProtocol{
			Type: "EXCH", Server: mailboxID, ServerDN: serverDN, ServerVersion: version,
			MdbDN:  serverDN + "/cn=Microsoft Private MDB",
			AD:     o.DomainController,
			ASUrl:  internal(ews),
			EwsUrl: internal(ews),
			EcpUrl: internal(ecp),
			OOFUrl: internal(ews),
			OABUrl: internal(oab),
		})
		if oa != nil && oa.ExternalHostname != nil && *oa.ExternalHostname != "" && !blockExternal {
			ssl := "Off"
			if oa.ExternalClientsRequireSsl {
				ssl = "On"
			}
			acct.Protocol = append(acct.Protocol, xmlProtocol{
				Type: "EXPR", Server: *oa.ExternalHostname, SSL: ssl,
				AuthPackage:   oa.ExternalClientAuthenticationMethod,
				ServerVersion: version,
				ASUrl:         external(ews),
				EwsUrl:        external(ews),
				EcpUrl:        external(ecp),
				OOFUrl:        external(ews),
				OABUrl:        external(oab),
			})
		}
	}
	web := xmlProtocol{Type: "WEB"}
	if u := internal(owa); u != "" {
		web.Internal = &xmlWebPlace{OWAUrl: []xmlOWAUrl{{AuthenticationMethod: owaAuth(owa), URL: u}}}
		if a := internal(ews); a != "" {
			web.Internal.Protocol = &xmlSmallProtocol{Type: "EXCH", ASUrl: a}
		}
	}
	if u := external(owa); u != "" {
		web.External = &xmlWebPlace{OWAUrl: []xmlOWAUrl{{AuthenticationMethod: owaAuth(owa), URL: u}}}
		if a := external(ews); a != "" {
			web.External.Protocol = &xmlSmallProtocol{Type: "EXPR", ASUrl: a}
		}
	}
	if web.Internal != nil || web.External != nil {
		acct.Protocol = append(acct.Protocol, web)
	}
	return marshal(resp)
}

// serverVersion encodes "Version 15.2 (Build 1544.4)" as Autodiscover's
// ServerVersion: 8 hex digits of 4 bits 0111, 6 bits major, 6 bits minor,
// a set bit and 15 bits build (15.0.847 is 73C0834F).
func serverVersion(admin string) string {
	var major, minor, build, rev int
	if _, err := fmt.Sscanf(admin, "Version %d.%d (Build %d.%d)", &major, &minor, &build, &rev); err != nil {
		return ""
	}
	v := uint32(7)<<28 | uint32(major&0x3F)<<22 | uint32(minor&0x3F)<<16 | 1<<15 | uint32(build&0x7FFF)
	return fmt.Sprintf("%08X", v)
}

// readBody reads at most 64 KiB.
func readBody(r io.Reader) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, 64<<10+1))
	if err != nil {
		return nil, err
	}
	if len(b) > 64<<10 {
		return nil, ErrInvalidRequest
	}
	return b, nil
}
