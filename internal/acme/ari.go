package acme

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/exrunbook/exrunbook/internal/errkind"
)

// maxBody bounds what is read of a CA's answer that this package parses.
const maxBody = 1 << 20

// ParseDirectoryRenewalInfo returns the directory's renewalInfo URL (RFC
// 9773 section 4), "" when the CA offers no ARI. Only that member is
// read; a directory that is not a JSON object, or whose renewalInfo is
// not an absolute https URL, is an error.
func ParseDirectoryRenewalInfo(body []byte) (string, error) {
	var dir map[string]json.RawMessage
	if err := json.Unmarshal(body, &dir); err != nil {
		return "", fmt.Errorf("the ACME directory is not a JSON object: %v", err)
	}
	raw, ok := dir["renewalInfo"]
	if !ok || string(raw) == "null" {
		return "", nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", fmt.Errorf("the ACME directory's renewalInfo is not a string: %s", truncate(string(raw)))
	}
	u, err := url.Parse(s)
	if err != nil || u.Scheme != "https" || u.Host == "" {
		return "", fmt.Errorf("the ACME directory's renewalInfo %q is not an https URL", truncate(s))
	}
	return s, nil
}

// DirectoryInfo is what exrunbook reads of a CA's directory itself.
type DirectoryInfo struct {
	// NewOrder is where orders are created (required).
	NewOrder string
	// RenewalInfo is the ARI base URL ("" without ARI).
	RenewalInfo string
	// EABRequired is meta.externalAccountRequired.
	EABRequired bool
	// TermsOfService is meta.termsOfService, if given.
	TermsOfService string
}

// ParseDirectory reads an ACME directory (RFC 8555 7.1.1): newOrder must
// be an https URL; renewalInfo is checked as ParseDirectoryRenewalInfo
// does; meta.externalAccountRequired must be a boolean when present.
func ParseDirectory(body []byte) (DirectoryInfo, error) {
	var doc struct {
		NewOrder *string `json:"newOrder"`
		Meta     *struct {
			EAB *bool   `json:"externalAccountRequired"`
			ToS *string `json:"termsOfService"`
		} `json:"meta"`
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		return DirectoryInfo{}, fmt.Errorf("not an ACME directory (a JSON object with newOrder, newAccount, …): %v", err)
	}
	var d DirectoryInfo
	if doc.NewOrder == nil {
		return d, errors.New("not an ACME directory: it has no newOrder (is certificate.acme.directory the directory URL, ending in /directory?)")
	}
	if u, err := url.Parse(*doc.NewOrder); err != nil || u.Scheme != "https" || u.Host == "" {
		return d, fmt.Errorf("the ACME directory's newOrder %q is not an https URL", truncate(*doc.NewOrder))
	}
	d.NewOrder = *doc.NewOrder
	ri, err := ParseDirectoryRenewalInfo(body)
	if err != nil {
		return d, err
	}
	d.RenewalInfo = ri
	if doc.Meta != nil {
		if doc.Meta.EAB != nil {
			d.EABRequired = *doc.Meta.EAB
		}
		if doc.Meta.ToS != nil {
			d.TermsOfService = *doc.Meta.ToS
		}
	}
	return d, nil
}

// GetDirectory reads and parses the CA's directory.
func GetDirectory(ctx context.Context, hc *http.Client, directoryURL string) (DirectoryInfo, error) {
	body, _, err := get(ctx, hc, directoryURL)
	if err != nil {
		return DirectoryInfo{}, fmt.Errorf("reading the ACME directory %s: %w", directoryURL, err)
	}
	d, err := ParseDirectory(body)
	if err != nil {
		return d, fmt.Errorf("%s: %w", directoryURL, err)
	}
	return d, nil
}

// RenewalInfo is the CA's answer to an ARI request.
type RenewalInfo struct {
	// Start and End bound the suggested window in which to renew.
	Start, End time.Time
	// ExplanationURL, when given, says why (e.g. a mass revocation).
	ExplanationURL string
	// RetryAfter is when to ask again (the Retry-After header), zero if
	// not given.
	RetryAfter time.Duration
}

// ParseRenewalInfo reads an ARI answer: {"suggestedWindow": {"start":
// RFC 3339, "end": RFC 3339}, "explanationURL": "…"}. The window must be
// present, both times valid, and end after start (RFC 9773 4.2: a client
// must treat an invalid window as though ARI were absent, which the
// caller does with the error).
func ParseRenewalInfo(body []byte) (RenewalInfo, error) {
	var doc struct {
		SuggestedWindow *struct {
			Start *string `json:"start"`
			End   *string `json:"end"`
		} `json:"suggestedWindow"`
		ExplanationURL *string `json:"explanationURL"`
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		return RenewalInfo{}, fmt.Errorf("the renewal information is not the expected JSON object: %v", err)
	}
	if doc.SuggestedWindow == nil || doc.SuggestedWindow.Start == nil || doc.SuggestedWindow.End == nil {
		return RenewalInfo{}, errors.New("the renewal information has no suggestedWindow with start and end")
	}
	var ri RenewalInfo
	var err error
	if ri.Start, err = time.Parse(time.RFC3339, *doc.SuggestedWindow.Start); err != nil {
		return RenewalInfo{}, fmt.Errorf("the renewal information's suggestedWindow.start %q is not an RFC 3339 time", truncate(*doc.SuggestedWindow.Start))
	}
	if ri.End, err = time.Parse(time.RFC3339, *doc.SuggestedWindow.End); err != nil {
		return RenewalInfo{}, fmt.Errorf("the renewal information's suggestedWindow.end %q is not an RFC 3339 time", truncate(*doc.SuggestedWindow.End))
	}
	if !ri.End.After(ri.Start) {
		return RenewalInfo{}, fmt.Errorf("the renewal information's suggestedWindow ends (%s) before it starts (%s)", ri.End.Format(time.RFC3339), ri.Start.Format(time.RFC3339))
	}
	if doc.ExplanationURL != nil {
		if u, err := url.Parse(*doc.ExplanationURL); err == nil && (u.Scheme == "https" || u.Scheme == "http") {
			ri.ExplanationURL = *doc.ExplanationURL
		}
	}
	return ri, nil
}

// ParseRetryAfter reads a Retry-After header: seconds or an HTTP date.
// Nonsense and negative values give 0.
func ParseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		if n < 0 || n > 366*24*3600 {
			return 0
		}
		return time.Duration(n) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}

// CertID is the ARI identifier of cert (RFC 9773 4.1): base64url of the
// authority key identifier, ".", base64url of the serial number's DER
// content octets.
func CertID(cert *x509.Certificate) (string, error) {
	if len(cert.AuthorityKeyId) == 0 {
		return "", errors.New("the certificate has no authority key identifier: ARI cannot name it")
	}
	if cert.SerialNumber == nil || cert.SerialNumber.Sign() <= 0 {
		return "", errors.New("the certificate has no positive serial number")
	}
	serial := cert.SerialNumber.Bytes()
	if serial[0]&0x80 != 0 {
		serial = append([]byte{0}, serial...) // DER INTEGER stays positive
	}
	enc := base64.RawURLEncoding
	return enc.EncodeToString(cert.AuthorityKeyId) + "." + enc.EncodeToString(serial), nil
}

// GetRenewalInfo asks the CA's ARI endpoint about cert. found is false
// (and err nil) when the directory offers no renewalInfo.
func GetRenewalInfo(ctx context.Context, hc *http.Client, directoryURL string, cert *x509.Certificate) (ri RenewalInfo, found bool, err error) {
	body, _, err := get(ctx, hc, directoryURL)
	if err != nil {
		return RenewalInfo{}, false, fmt.Errorf("reading the ACME directory %s: %w", directoryURL, err)
	}
	base, err := ParseDirectoryRenewalInfo(body)
	if err != nil || base == "" {
		return RenewalInfo{}, false, err
	}
	id, err := CertID(cert)
	if err != nil {
		return RenewalInfo{}, false, err
	}
	u := strings.TrimRight(base, "/") + "/" + id
	body, h, err := get(ctx, hc, u)
	if err != nil {
		return RenewalInfo{}, false, fmt.Errorf("reading the renewal information %s: %w", u, err)
	}
	ri, err = ParseRenewalInfo(body)
	if err != nil {
		return RenewalInfo{}, false, err
	}
	ri.RetryAfter = ParseRetryAfter(h.Get("Retry-After"), time.Now())
	return ri, true, nil
}

// get fetches url, returning at most maxBody bytes; 5xx and transport
// failures are transient, other non-200 answers are errors in the
// server's words (an RFC 7807 problem's detail when there is one).
func get(ctx context.Context, hc *http.Client, u string) ([]byte, http.Header, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, nil, err
	}
	req.Header.Set("User-Agent", userAgent)
	resp, err := hc.Do(req)
	if err != nil {
		return nil, nil, errkind.Transient(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody+1))
	if err != nil {
		return nil, nil, errkind.Transient(err)
	}
	if len(body) > maxBody {
		return nil, nil, fmt.Errorf("the answer is larger than %d bytes", maxBody)
	}
	if resp.StatusCode != http.StatusOK {
		err := fmt.Errorf("HTTP %d: %s", resp.StatusCode, ProblemDetail(body))
		if resp.StatusCode >= 500 || resp.StatusCode == http.StatusTooManyRequests {
			return nil, nil, errkind.Transient(err)
		}
		return nil, nil, err
	}
	return body, resp.Header, nil
}

// ProblemDetail is an RFC 7807 problem document's type and detail, or
// the body itself (truncated) when it is not one.
func ProblemDetail(body []byte) string {
	var p struct {
		Type   string `json:"type"`
		Detail string `json:"detail"`
	}
	if err := json.Unmarshal(body, &p); err == nil && (p.Type != "" || p.Detail != "") {
		return strings.TrimSpace(strings.TrimPrefix(p.Type, "urn:ietf:params:acme:error:") + ": " + p.Detail)
	}
	return truncate(string(bytes.TrimSpace(body)))
}

func truncate(s string) string {
	const n = 200
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}
