package buildctx

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob"
)

// fetchAzureBlob downloads an Azure Blob context with Azure's SDK and the
// account's shared key (AZURE_STORAGE_ACCESS_KEY), and unpacks it.
func fetchAzureBlob(ctx context.Context, src string, b azureBlobURL, opt FetchOptions) (string, error) {
	name := redactURL(src)
	cred, err := azblob.NewSharedKeyCredential(b.account, string(opt.Cloud.AzureAccessKey))
	if err != nil {
		// The SDK's error says only that the key is not base64.
		return "", fmt.Errorf("fetching context %s: AZURE_STORAGE_ACCESS_KEY: %w", name, err)
	}
	client, err := azblob.NewClientWithSharedKeyCredential(b.service, cred, nil)
	if err != nil {
		return "", fmt.Errorf("fetching context %s: %w", name, err)
	}
	resp, err := client.DownloadStream(ctx, b.container, b.blob, nil)
	if err != nil {
		return "", fmt.Errorf("fetching context %s: %w", name, azureCause(err, b.account))
	}
	defer resp.Body.Close()
	return unpackTo(resp.Body, opt.TempDir, name)
}

// azureCause is the Blob service's refusal in a line (the SDK's error
// spans the whole response).
func azureCause(err error, account string) error {
	var re *azcore.ResponseError
	if !errors.As(err, &re) {
		return err
	}
	e := &serviceError{status: re.StatusCode, code: re.ErrorCode, err: err}
	if e.code == "" {
		e.message = http.StatusText(re.StatusCode)
	}
	if re.StatusCode == http.StatusUnauthorized || re.StatusCode == http.StatusForbidden {
		e.hint = "check AZURE_STORAGE_ACCESS_KEY, the key of storage account " + account
	}
	return e
}
