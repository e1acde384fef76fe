package buildctx

import (
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"strconv"
	"strings"
)

// defaultObject is the archive an s3://, gs:// or Azure Blob context
// names when its URL stops at the bucket (or container), as in Kaniko.
const defaultObject = "context.tar.gz"

// CloudOptions are the settings of the s3://, gs:// and Azure Blob
// contexts that Kaniko reads from the environment; AddFlags sets them
// (CloudOptionsFromEnv). Credentials otherwise come from each provider's
// SDK: AWS's default chain (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY,
// AWS_PROFILE, web identity, the instance's role; AWS_REGION) for s3://,
// Google's application default credentials for gs://.
type CloudOptions struct {
	// S3Endpoint ($S3_ENDPOINT) is an S3-compatible service's URL, used
	// instead of AWS's; without a scheme it is https.
	S3Endpoint string
	// S3ForcePathStyle ($S3_FORCE_PATH_STYLE=true) names the bucket in the
	// URL's path rather than in its host, as most S3-compatible services
	// want.
	S3ForcePathStyle bool
	// AzureAccessKey ($AZURE_STORAGE_ACCESS_KEY) is the storage account's
	// shared key. Without it an Azure Blob URL is fetched as any https://
	// tarball: a public container's, or one with a SAS token.
	AzureAccessKey Secret
	// AzureBlobEndpoint ($AZURE_STORAGE_BLOB_ENDPOINT) is a Blob service
	// endpoint other than *.blob.core.windows.net and the national
	// clouds' (an emulator's such as Azurite's
	// http://127.0.0.1:10000/devstoreaccount1, a custom domain): a context
	// URL under it is ENDPOINT/CONTAINER/BLOB. The account is the
	// endpoint's first path element, else the first label of its host.
	AzureBlobEndpoint string
	// StorageEmulatorHost ($STORAGE_EMULATOR_HOST) is a Cloud Storage
	// emulator's host:port or URL: gs:// contexts are read from it,
	// without credentials, as Google's SDKs do.
	StorageEmulatorHost string
}

// CloudOptionsFromEnv reads the cloud contexts' settings from getenv
// (os.Getenv): S3_ENDPOINT, S3_FORCE_PATH_STYLE, AZURE_STORAGE_ACCESS_KEY,
// AZURE_STORAGE_BLOB_ENDPOINT and STORAGE_EMULATOR_HOST.
func CloudOptionsFromEnv(getenv func(string) string) CloudOptions {
	force, _ := strconv.ParseBool(getenv("S3_FORCE_PATH_STYLE"))
	return CloudOptions{
		S3Endpoint:          getenv("S3_ENDPOINT"),
		S3ForcePathStyle:    force,
		AzureAccessKey:      Secret(getenv("AZURE_STORAGE_ACCESS_KEY")),
		AzureBlobEndpoint:   getenv("AZURE_STORAGE_BLOB_ENDPOINT"),
		StorageEmulatorHost: getenv("STORAGE_EMULATOR_HOST"),
	}
}

// Secret is a credential: printed, logged or marshalled it shows only
// whether it is set.
type Secret string

func (s Secret) redacted() string {
	if s == "" {
		return ""
	}
	return "redacted"
}

// Format prints "redacted" for a set secret, whatever the verb.
func (s Secret) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, s.redacted()) }

// LogValue keeps the secret out of structured logs.
func (s Secret) LogValue() slog.Value { return slog.StringValue(s.redacted()) }

// MarshalText keeps it out of JSON, and of slog's handlers when it is a
// field of what is logged (Options).
func (s Secret) MarshalText() ([]byte, error) { return []byte(s.redacted()), nil }

// bucketObject splits scheme://bucket/object (s3://, gs://); an empty
// object is context.tar.gz, as in Kaniko. The object is taken as written,
// not URL-decoded, as the providers' own tools take it.
func bucketObject(src, scheme string) (bucket, object string, err error) {
	bucket, object, _ = strings.Cut(strings.TrimPrefix(src, scheme), "/")
	if bucket == "" {
		return "", "", fmt.Errorf("fetching context %s: no bucket in the URL (want %sBUCKET/PATH.tar.gz)", src, scheme)
	}
	if object == "" {
		object = defaultObject
	}
	return bucket, object, nil
}

// azureBlobURL is where an Azure Blob context is.
type azureBlobURL struct {
	service   string // https://ACCOUNT.blob.core.windows.net, or the endpoint
	account   string
	container string
	blob      string
}

// parseAzureBlob tells whether src is an Azure Blob URL: https on a host
// of *.blob.core.windows.net or of a national cloud (those Kaniko
// recognises), or under endpoint (AzureBlobEndpoint) when that is set.
func parseAzureBlob(src, endpoint string) (azureBlobURL, bool) {
	u, err := url.Parse(src)
	if err != nil || u.Host == "" || u.User != nil {
		return azureBlobURL{}, false
	}
	var b azureBlobURL
	rest := u.Path
	if e, ok := underEndpoint(u, endpoint); ok {
		b.service = strings.TrimSuffix(e.String(), "/")
		rest = strings.TrimPrefix(u.Path, strings.TrimSuffix(e.Path, "/"))
		if first, _, _ := strings.Cut(strings.TrimPrefix(e.Path, "/"), "/"); first != "" {
			b.account = first
		}
	} else if u.Scheme == "https" && isAzureBlobHost(u.Hostname()) {
		b.service = "https://" + u.Host
	} else {
		return azureBlobURL{}, false
	}
	if b.account == "" {
		b.account, _, _ = strings.Cut(u.Hostname(), ".")
	}
	b.container, b.blob, _ = strings.Cut(strings.TrimPrefix(rest, "/"), "/")
	if b.container == "" {
		return azureBlobURL{}, false
	}
	if b.blob == "" {
		b.blob = defaultObject
	}
	return b, true
}

// underEndpoint tells whether u is under the endpoint's scheme, host and
// path, and returns the endpoint parsed.
func underEndpoint(u *url.URL, endpoint string) (*url.URL, bool) {
	if endpoint == "" {
		return nil, false
	}
	e, err := url.Parse(endpoint)
	if err != nil || e.Host == "" {
		return nil, false
	}
	e.RawQuery, e.Fragment = "", ""
	prefix := strings.TrimSuffix(e.Path, "/")
	ok := strings.EqualFold(u.Scheme, e.Scheme) && strings.EqualFold(u.Host, e.Host) &&
		(u.Path == prefix || strings.HasPrefix(u.Path, prefix+"/"))
	return e, ok
}

// isAzureBlobHost tells whether host is a storage account's Blob service
// in Azure's public cloud or a national one.
func isAzureBlobHost(host string) bool {
	host = strings.ToLower(host)
	for _, suffix := range [...]string{
		".blob.core.windows.net",
		".blob.core.chinacloudapi.cn",
		".blob.core.cloudapi.de",
		".blob.core.usgovcloudapi.net",
	} {
		if strings.HasSuffix(host, suffix) && len(host) > len(suffix) {
			return true
		}
	}
	return false
}

// redactURL is src for errors and logs: without a password or a query
// (a SAS token, a presigned URL's signature). src itself when it does
// not parse.
func redactURL(src string) string {
	u, err := url.Parse(src)
	if err != nil {
		return src
	}
	if u.RawQuery != "" {
		u.RawQuery = ""
		u.ForceQuery = false
		return u.Redacted() + "?…"
	}
	return u.Redacted()
}

// serviceError is a storage service's refusal, said in a line: the HTTP
// status, the service's error code and message, and a hint at what to
// check. It unwraps to the SDK's error.
type serviceError struct {
	status        int
	code, message string
	hint          string
	err           error
}

func (e *serviceError) Error() string {
	var b strings.Builder
	if e.status != 0 {
		fmt.Fprintf(&b, "HTTP %d", e.status)
	}
	for _, s := range []string{e.code, e.message} {
		if s == "" {
			continue
		}
		if b.Len() > 0 {
			b.WriteString(": ")
		}
		b.WriteString(s)
	}
	if b.Len() == 0 {
		b.WriteString(e.err.Error())
	}
	if e.hint != "" {
		b.WriteString(" (" + e.hint + ")")
	}
	return b.String()
}

func (e *serviceError) Unwrap() error { return e.err }
