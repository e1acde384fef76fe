package buildctx

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

// fetchS3 downloads s3://bucket/path.tar.gz with the AWS SDK, its
// default credential chain and region (us-east-1 when none is set), on
// S3_ENDPOINT when set, and unpacks it.
func fetchS3(ctx context.Context, src string, opt FetchOptions) (string, error) {
	bucket, key, err := bucketObject(src, "s3://")
	if err != nil {
		return "", err
	}
	cfg, err := awsconfig.LoadDefaultConfig(ctx)
	if err != nil {
		return "", fmt.Errorf("fetching context %s: loading the AWS configuration: %w", src, err)
	}
	if cfg.Region == "" {
		cfg.Region = "us-east-1"
	}
	client := s3.NewFromConfig(cfg, func(o *s3.Options) {
		if e := opt.Cloud.S3Endpoint; e != "" {
			if !strings.Contains(e, "://") {
				e = "https://" + e
			}
			o.BaseEndpoint = aws.String(e)
		}
		o.UsePathStyle = opt.Cloud.S3ForcePathStyle
		// Many S3-compatible services send no checksum: the SDK would
		// warn on stderr at each download.
		o.DisableLogOutputChecksumValidationSkipped = true
	})
	out, err := client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		return "", fmt.Errorf("fetching context %s: %w", src, s3Cause(err))
	}
	defer out.Body.Close()
	return unpackTo(out.Body, opt.TempDir, src)
}

// s3Cause is S3's refusal in a line; other errors (no credentials found,
// no connection) as the SDK says them.
func s3Cause(err error) error {
	var api smithy.APIError
	if !errors.As(err, &api) {
		return err
	}
	e := &serviceError{code: api.ErrorCode(), message: api.ErrorMessage(), err: err}
	var resp *smithyhttp.ResponseError
	if errors.As(err, &resp) {
		e.status = resp.HTTPStatusCode()
	}
	if e.status == http.StatusUnauthorized || e.status == http.StatusForbidden {
		e.hint = "check the AWS credentials: AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, AWS_PROFILE or the role, and AWS_REGION"
	}
	return e
}
