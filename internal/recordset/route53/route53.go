// Package route53 is the record-set provider for a hosted zone in Amazon
// Route 53, through the pinned module github.com/libdns/route53. The module
// builds its AWS SDK client itself (config.LoadDefaultConfig) and takes no
// HTTP client: the SDK's own standard retryer retries throttling and 5xx
// answers with backoff, and its endpoint is Route 53's unless the standard
// AWS_ENDPOINT_URL_ROUTE_53 variable says otherwise (the tests point it at
// the lab's fake). Credentials are the access key pair given here, never
// the SDK's shared files or instance roles.
package route53

import (
	"errors"
	"fmt"

	"github.com/aws/smithy-go"
	libr53 "github.com/libdns/route53"

	"github.com/exrunbook/exrunbook/internal/recordset"
	"github.com/exrunbook/exrunbook/internal/recordset/libdnszone"
)

// Options configure the provider.
type Options struct {
	// AccessKeyID and SecretAccessKey are an IAM user's key pair.
	AccessKeyID, SecretAccessKey string
	// HostedZoneID is the zone's ID (without "/hostedzone/"); empty: found
	// by the zone's name (needs route53:ListHostedZonesByName).
	HostedZoneID string
	// Region signs the requests (Route 53 is global; default us-east-1).
	Region string
	// KeySetting names where the secret key comes from, for errors.
	KeySetting string
}

// New returns the provider.
func New(o Options) (recordset.Provider, error) {
	if o.AccessKeyID == "" || o.SecretAccessKey == "" {
		return nil, fmt.Errorf("route53: no access key: set public_dns.route53.access_key_id and %s", o.KeySetting)
	}
	if o.Region == "" {
		o.Region = "us-east-1"
	}
	m := &libr53.Provider{AccessKeyId: o.AccessKeyID, SecretAccessKey: o.SecretAccessKey, Region: o.Region, HostedZoneID: o.HostedZoneID, MaxRetries: 5}
	return &libdnszone.Zone{Module: m, Explain: func(err error) error {
		var ae smithy.APIError
		if errors.As(err, &ae) {
			switch ae.ErrorCode() {
			case "InvalidClientTokenId", "SignatureDoesNotMatch", "AccessDenied", "AccessDeniedException", "UnrecognizedClientException", "IncompleteSignature", "MissingAuthenticationToken":
				return fmt.Errorf("route53: the API refused the access key (%s; check public_dns.route53.access_key_id and %s): %s", ae.ErrorCode(), o.KeySetting, ae.ErrorMessage())
			}
		}
		return fmt.Errorf("route53: %w", err)
	}}, nil
}
