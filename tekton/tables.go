package tekton

import (
	"fmt"
	"strings"

	v1 "github.com/tektoncd/pipeline/pkg/apis/pipeline/v1"
)

// cell makes text safe for one Markdown table cell.
func cell(s string) string {
	s = strings.ReplaceAll(s, "|", `\|`)
	return strings.ReplaceAll(s, "\n", " ")
}

func code(s string) string { return "`" + s + "`" }

func paramTable(params v1.ParamSpecs) string {
	var b strings.Builder
	b.WriteString("| Name | Type | Default | Description |\n| --- | --- | --- | --- |\n")
	for _, p := range params {
		fmt.Fprintf(&b, "| %s | %s | %s | %s |\n", code(p.Name), p.Type, defaultText(p), cell(p.Description))
	}
	return b.String()
}

func defaultText(p v1.ParamSpec) string {
	switch {
	case p.Default == nil:
		return "required"
	case p.Default.Type == v1.ParamTypeArray:
		return code("[" + strings.Join(p.Default.ArrayVal, ", ") + "]")
	case p.Default.StringVal == "":
		return code(`""`)
	default:
		return code(p.Default.StringVal)
	}
}

func workspaceTable(ws []v1.WorkspaceDeclaration) string {
	var b strings.Builder
	b.WriteString("| Name | Optional | Mount path | Description |\n| --- | --- | --- | --- |\n")
	for _, w := range ws {
		mount := "default (`/workspace/" + w.Name + "`)"
		if w.MountPath != "" {
			mount = code(w.MountPath)
		}
		fmt.Fprintf(&b, "| %s | %t | %s | %s |\n", code(w.Name), w.Optional, mount, cell(w.Description))
	}
	return b.String()
}

func resultTable(names []string, descriptions []string) string {
	var b strings.Builder
	b.WriteString("| Name | Description |\n| --- | --- |\n")
	for i := range names {
		fmt.Fprintf(&b, "| %s | %s |\n", code(names[i]), cell(descriptions[i]))
	}
	return b.String()
}

func taskResultTable(rs []v1.TaskResult) string {
	var names, descs []string
	for _, r := range rs {
		names = append(names, r.Name)
		descs = append(descs, r.Description)
	}
	return resultTable(names, descs)
}

func stepResultTable(rs []v1.StepResult) string {
	var names, descs []string
	for _, r := range rs {
		names = append(names, r.Name)
		descs = append(descs, r.Description)
	}
	return resultTable(names, descs)
}
