package catalog

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/pod-security-admission/api"
	"k8s.io/pod-security-admission/policy"
)

// PodSecurity evaluates a pod spec with the Kubernetes Pod Security
// admission library at level ("baseline", "restricted") of the latest
// policy version, and returns why it would be forbidden, or "" if admitted.
func PodSecurity(level string, spec corev1.PodSpec) (string, error) {
	lvl, err := api.ParseLevel(level)
	if err != nil {
		return "", fmt.Errorf("parsing pod security level: %w", err)
	}
	evaluator, err := policy.NewEvaluator(policy.DefaultChecks(), nil)
	if err != nil {
		return "", fmt.Errorf("creating pod security evaluator: %w", err)
	}
	results := evaluator.EvaluatePod(api.LevelVersion{Level: lvl, Version: api.LatestVersion()}, &metav1.ObjectMeta{}, &spec)
	agg := policy.AggregateCheckResults(results)
	if agg.Allowed {
		return "", nil
	}
	return agg.ForbiddenDetail(), nil
}
