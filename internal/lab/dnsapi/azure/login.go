package azure

import (
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/exrunbook/exrunbook/internal/lab/dnsapi"
)

// The Microsoft identity platform half of the fake: instance discovery,
// the tenant's OpenID configuration and the client-credentials token
// endpoint that hands out the bearer tokens the ARM half checks.

// serveLogin answers the tenant's OpenID configuration and its token
// endpoint.
func (f *Fake) serveLogin(w http.ResponseWriter, r *http.Request) {
	parts := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	if len(parts) == 0 || parts[0] == "" {
		aadError(w, http.StatusNotFound, "invalid_request", 90002, "No tenant in the request path.")
		return
	}
	tenant, rest := parts[0], strings.Join(parts[1:], "/")
	base := "https://" + LoginHost + "/" + f.TenantID
	switch {
	case tenant == "common" && rest == "discovery/instance" && r.Method == http.MethodGet:
		f.discovery(w, r)
		return
	}
	if !strings.EqualFold(tenant, f.TenantID) {
		aadError(w, http.StatusBadRequest, "invalid_tenant", 90002, fmt.Sprintf("Tenant '%s' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud.", tenant))
		return
	}
	switch {
	case rest == "v2.0/.well-known/openid-configuration" && r.Method == http.MethodGet:
		dnsapi.WriteJSON(w, http.StatusOK, map[string]any{
			"token_endpoint":                        base + "/oauth2/v2.0/token",
			"authorization_endpoint":                base + "/oauth2/v2.0/authorize",
			"issuer":                                base + "/v2.0",
			"token_endpoint_auth_methods_supported": []string{"client_secret_post", "private_key_jwt", "client_secret_basic"},
			"response_types_supported":              []string{"code", "id_token", "code id_token", "id_token token"},
			"tenant_region_scope":                   "EU",
			"cloud_instance_name":                   "microsoftonline.com",
		})
	case rest == "oauth2/v2.0/token" && r.Method == http.MethodPost:
		f.token(w, r)
	default:
		aadError(w, http.StatusNotFound, "invalid_request", 900561, fmt.Sprintf("The endpoint only accepts the documented requests; %s %s is not one.", r.Method, r.URL.Path))
	}
}

// discovery answers instance discovery, which MSAL asks to learn the
// public cloud's host aliases: the tenant's OpenID configuration for the
// authorization endpoint given, and the aliases of login.microsoftonline.com.
func (f *Fake) discovery(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if q.Get("api-version") != "1.1" {
		aadError(w, http.StatusBadRequest, "invalid_request", 900561, fmt.Sprintf("The api-version '%s' is not supported; expected 1.1.", q.Get("api-version")))
		return
	}
	u, err := url.Parse(q.Get("authorization_endpoint"))
	var parts []string
	if err == nil {
		parts = strings.Split(strings.Trim(u.EscapedPath(), "/"), "/")
	}
	if err != nil || u.Scheme != "https" || !strings.EqualFold(u.Host, LoginHost) || len(parts) != 4 || parts[1] != "oauth2" || parts[3] != "authorize" {
		aadError(w, http.StatusBadRequest, "invalid_instance", 50049, fmt.Sprintf("Unknown or invalid instance '%s'.", q.Get("authorization_endpoint")))
		return
	}
	dnsapi.WriteJSON(w, http.StatusOK, map[string]any{
		"tenant_discovery_endpoint": "https://" + LoginHost + "/" + parts[0] + "/v2.0/.well-known/openid-configuration",
		"api-version":               "1.1",
		"metadata": []map[string]any{{"preferred_network": LoginHost, "preferred_cache": "login.windows.net",
			"aliases": []string{LoginHost, "login.windows.net", "login.microsoft.com", "sts.windows.net"}}},
	})
}

// token is the client-credentials grant.
func (f *Fake) token(w http.ResponseWriter, r *http.Request) {
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/x-www-form-urlencoded") {
		aadError(w, http.StatusBadRequest, "invalid_request", 900144, "The request body must contain the following parameter: 'grant_type'.")
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxBody)
	if err := r.ParseForm(); err != nil {
		aadError(w, http.StatusBadRequest, "invalid_request", 900144, "The request body could not be read: "+err.Error())
		return
	}
	form := r.PostForm
	switch {
	case form.Get("grant_type") != "client_credentials":
		aadError(w, http.StatusBadRequest, "unsupported_grant_type", 70003, fmt.Sprintf("The app requested an unsupported grant type '%s'.", form.Get("grant_type")))
	case form.Get("client_id") != f.ClientID:
		aadError(w, http.StatusBadRequest, "unauthorized_client", 700016, fmt.Sprintf("Application with identifier '%s' was not found in the directory '%s'.", form.Get("client_id"), f.TenantID))
	case form.Get("client_secret") == "":
		aadError(w, http.StatusUnauthorized, "invalid_client", 7000218, "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.")
	case form.Get("client_secret") != f.ClientSecret:
		aadError(w, http.StatusUnauthorized, "invalid_client", 7000215, fmt.Sprintf("Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '%s'.", f.ClientID))
	case !armScope(form.Get("scope")):
		aadError(w, http.StatusBadRequest, "invalid_scope", 1002012, fmt.Sprintf("The provided value for scope %s is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI).", form.Get("scope")))
	default:
		var b [24]byte
		rand.Read(b[:])
		tok := "lab." + base64.RawURLEncoding.EncodeToString(b[:])
		f.mu.Lock()
		if f.tokens == nil {
			f.tokens = map[string]bool{}
		}
		f.tokens[tok] = true
		f.mu.Unlock()
		dnsapi.WriteJSON(w, http.StatusOK, map[string]any{"token_type": "Bearer", "expires_in": 3599, "ext_expires_in": 3599, "access_token": tok})
	}
}

// armScope reports whether a client-credentials scope asks for Azure
// Resource Manager: one "{resource}/.default" of ARM's two application ID
// URIs, beside only the OpenID scopes MSAL adds to every request.
func armScope(scope string) bool {
	n := 0
	for _, s := range strings.Fields(scope) {
		switch s {
		case "openid", "offline_access", "profile":
		case "https://management.azure.com//.default", "https://management.azure.com/.default",
			"https://management.core.windows.net//.default", "https://management.core.windows.net/.default":
			n++
		default:
			return false
		}
	}
	return n == 1
}
