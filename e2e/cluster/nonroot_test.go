//go:build cluster

package cluster

import (
	"encoding/json"
	"strings"
	"testing"
)

// distrolessFiles is an application image as most without RUN are: a
// binary copied with its owner, a non-root USER, an ENTRYPOINT.
func distrolessFiles() map[string]string {
	return map[string]string{
		"Dockerfile": "FROM " + env.busybox + `
WORKDIR /app
COPY --chown=65532:65532 app/ ./
COPY --chmod=0755 run.sh /usr/local/bin/run
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/run"]
`,
		"app/config.json": "{\"greeting\": \"hello\"}\n",
		"app/data/a.txt":  "a\n",
		"run.sh":          "#!/bin/sh\ncat /app/config.json\n",
	}
}

// restrictedSC is what PodSecurity restricted asks of a container.
func restrictedSC(uid int) map[string]any {
	return map[string]any{
		"runAsNonRoot": true, "runAsUser": uid, "allowPrivilegeEscalation": false,
		"capabilities":   map[string]any{"drop": []any{"ALL"}},
		"seccompProfile": map[string]any{"type": "RuntimeDefault"},
	}
}

// argoRestrictedPatch gives Argo's own containers (its image runs as 8737)
// what restricted asks, for one Workflow.
func argoRestrictedPatch() string {
	b, _ := json.Marshal(map[string]any{
		"initContainers": []any{map[string]any{"name": "init", "securityContext": restrictedSC(8737)}},
		"containers":     []any{map[string]any{"name": "wait", "securityContext": restrictedSC(8737)}},
	})
	return string(b)
}

// The namespace of these tests enforces restricted: the root Task's pod is
// refused there, so what builds in it built without root.
func TestRestrictedRefusesRootTask(t *testing.T) {
	timed(t)
	if lvl := kubectl(t, nil, "get", "namespace", env.restricted, "-o", `jsonpath={.metadata.labels.pod-security\.kubernetes\.io/enforce}`); lvl != "restricted" {
		t.Fatalf("namespace %s enforces %q", env.restricted, lvl)
	}
	claimIn(t, env.restricted, "src-root", distrolessFiles())
	// kaniko-build (as root) is not applied there: apply it and see its pod
	// refused.
	out, err := kubectlErr(nil, "-n", env.restricted, "apply", "-f", env.release+"/catalog/task/kaniko-build/0.1/kaniko-build.yaml")
	if err != nil {
		t.Fatalf("applying kaniko-build: %v\n%s", err, out)
	}
	tr, obj := startTaskIn(t, env.restricted, "kaniko-build", "claimName=src-root", "-p", "IMAGE="+env.registry+"/restricted/root:1")
	if condition(obj) != "False" || !strings.Contains(strings.ToLower(message(obj)), "podsecurity") {
		t.Errorf("the root Task's TaskRun %s in a restricted namespace: %s %q, want refused by PodSecurity", tr, condition(obj), message(obj))
	}
	if repoExists(t, "restricted/root") {
		t.Errorf("the refused root Task pushed restricted/root")
	}
}

// TestNonRootRestricted builds the distroless-style Dockerfile with the
// non-root Task and template in a namespace that enforces restricted, and
// compares each image with the one the root Task builds; a RUN fails with
// the explained error and pushes nothing.
func TestNonRootRestricted(t *testing.T) {
	timed(t)
	files := distrolessFiles()
	claim(t, "src-distroless", files)
	rootful := env.registry + "/nonroot/rootful:1"
	tr, obj := startTask(t, "claimName=src-distroless", "-p", "IMAGE="+rootful, "-p", "EXTRA_ARGS=--reproducible")
	if condition(obj) != "True" {
		t.Fatalf("TaskRun %s (as root) failed:\n%s", tr, taskRunLog(t, tr))
	}
	want := results(obj)["IMAGE_DIGEST"]
	hs, bodies := imageTree(t, rootful+"@"+want)
	for _, p := range []string{"app/config.json", "app/data", "app/data/a.txt"} {
		if h := hs[p]; h == nil || h.Uid != 65532 || h.Gid != 65532 {
			t.Errorf("the root build's %s is not owned by 65532: %+v", p, hs[p])
		}
	}
	if h := hs["usr/local/bin/run"]; h == nil || h.Mode&0o7777 != 0o755 || bodies["usr/local/bin/run"] != files["run.sh"] {
		t.Errorf("the root build's /usr/local/bin/run: %+v", h)
	}

	t.Run("tekton", func(t *testing.T) {
		claimIn(t, env.restricted, "src-distroless", files)
		image := env.registry + "/nonroot/tekton:1"
		tr, obj := startTaskIn(t, env.restricted, "kaniko-build-nonroot", "claimName=src-distroless",
			"-p", "IMAGE="+image, "-p", "EXTRA_ARGS=--reproducible")
		if condition(obj) != "True" {
			t.Fatalf("the non-root TaskRun %s failed:\n%s", tr, taskRunLogIn(t, env.restricted, tr))
		}
		checkRanAs(t, env.restricted, podOfIn(t, env.restricted, tr), "step-build-and-push", "65532")
		if got := results(obj)["IMAGE_DIGEST"]; got != want {
			t.Errorf("the non-root Task built %s, the root Task %s", got, want)
			diffImages(t, rootful+"@"+want, image+"@"+got)
		}
	})

	t.Run("tekton-run", func(t *testing.T) {
		claimIn(t, env.restricted, "src-nonroot-run", map[string]string{
			"Dockerfile": "FROM " + env.busybox + "\nCOPY run.sh /run.sh\nRUN echo never > /never.txt\n",
			"run.sh":     files["run.sh"],
		})
		tr, obj := startTaskIn(t, env.restricted, "kaniko-build-nonroot", "claimName=src-nonroot-run",
			"-p", "IMAGE="+env.registry+"/nonroot/tekton-run:1")
		logs := taskRunLogIn(t, env.restricted, tr)
		if condition(obj) != "False" {
			t.Fatalf("the non-root TaskRun %s of a RUN: %s, want failed\n%s", tr, condition(obj), logs)
		}
		checkRunRefused(t, logs)
		if repoExists(t, "nonroot/tekton-run") {
			t.Errorf("the refused build pushed nonroot/tekton-run")
		}
	})

	url := gitRepo(t, "nonroot", map[string]string{
		"ctx/Dockerfile":      files["Dockerfile"],
		"ctx/app/config.json": files["app/config.json"],
		"ctx/app/data/a.txt":  files["app/data/a.txt"],
		"ctx/run.sh":          files["run.sh"],
		"run/Dockerfile":      "FROM " + env.busybox + "\nRUN echo never > /never.txt\n",
	})
	nonrootWorkflow := func(context, image string, extra ...map[string]any) map[string]any {
		wf := buildWorkflow(url, context, image, extra...)
		spec := wf["spec"].(map[string]any)
		task := spec["templates"].([]any)[0].(map[string]any)["dag"].(map[string]any)["tasks"].([]any)[0].(map[string]any)
		task["templateRef"].(map[string]any)["template"] = "build-nonroot"
		spec["podSpecPatch"] = argoRestrictedPatch()
		return wf
	}

	t.Run("argo", func(t *testing.T) {
		image := env.registry + "/nonroot/argo:1"
		nm, obj := workflowIn(t, env.restricted, nonrootWorkflow("ctx", image, map[string]any{"name": "extra-args", "value": `["--reproducible"]`}))
		if phase(obj) != "Succeeded" {
			t.Fatalf("Workflow %s: %s\n%s", nm, phase(obj), podLogsIn(t, env.restricted, nm))
		}
		checkRanAs(t, env.restricted, workflowPod(t, env.restricted, nm), "main", "65532")
		if got := nodeOutputs(obj, "build")["digest"]; got != want {
			t.Errorf("build-nonroot built %s, the root Task %s", got, want)
			diffImages(t, rootful+"@"+want, image+"@"+got)
		}
	})

	t.Run("argo-run", func(t *testing.T) {
		nm, obj := workflowIn(t, env.restricted, nonrootWorkflow("run", env.registry+"/nonroot/argo-run:1"))
		logs := podLogsIn(t, env.restricted, nm)
		if phase(obj) != "Failed" {
			t.Fatalf("Workflow %s of a RUN: %s, want Failed\n%s", nm, phase(obj), logs)
		}
		checkRunRefused(t, logs)
		if repoExists(t, "nonroot/argo-run") {
			t.Errorf("the refused build pushed nonroot/argo-run")
		}
	})
}

// checkRanAs checks the pod's container ran as uid, as its spec says and
// the restricted namespace admitted.
func checkRanAs(t *testing.T, ns, pod, container, uid string) {
	t.Helper()
	got := kubectl(t, nil, "-n", ns, "get", "pod", pod, "-o",
		`jsonpath={.spec.containers[?(@.name=="`+container+`")].securityContext.runAsUser}`)
	if got != uid {
		t.Errorf("pod %s container %s runs as %q, want %s", pod, container, got, uid)
	}
}

func checkRunRefused(t *testing.T, logs string) {
	t.Helper()
	for _, want := range []string{"Dockerfile:", "a RUN needs root", "hostUsers: false"} {
		if !strings.Contains(logs, want) {
			t.Errorf("the log does not say %q:\n%s", want, logs)
		}
	}
}
