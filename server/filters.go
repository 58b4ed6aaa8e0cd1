package server

import (
	"fmt"
	"slices"
	"strings"

	"github.com/engramhq/engram"
)

// Filter values are checked before a store sees them: a value no record
// can have (kind "telepathy", task_type "juggling", a tag that is not a
// tag) is a mistake, answered with an error naming the field as the caller
// spelled it, rather than an empty list.

func checkEnum[T ~string](field string, v T, valid []T) error {
	if v == "" || slices.Contains(valid, v) {
		return nil
	}
	names := make([]string, len(valid))
	for i, x := range valid {
		names[i] = string(x)
	}
	return engram.Invalid(field, "%q is not one of %s", clip(string(v)), strings.Join(names, ", "))
}

// checkTags checks filter tags; field(i) names the i-th as the caller sent it.
func checkTags(tags []string, field func(i int) string) error {
	for i, t := range tags {
		if err := engram.ValidateTag(engram.NormalizeTag(t)); err != nil {
			e := *err.(*engram.Error)
			e.Field = field(i)
			return &e
		}
	}
	return nil
}

var searchKinds = []engram.SearchKind{engram.SearchEpisode, engram.SearchStep, engram.SearchPattern}

// checkEpisodeFilter checks f's enumerations and tags; tagField names a tag.
func checkEpisodeFilter(f engram.EpisodeFilter, tagField func(i int) string) error {
	if err := checkEnum("task_type", f.TaskType, engram.TaskTypes); err != nil {
		return err
	}
	if len(f.Tags) > engram.MaxFilterTags {
		return engram.Invalid(tagField(-1), "has %d tags; the limit is %d in one query", len(f.Tags), engram.MaxFilterTags)
	}
	if len(f.Metadata) > engram.MaxFilterMetadata {
		return engram.Invalid("metadata", "has %d entries; the limit is %d in one query", len(f.Metadata), engram.MaxFilterMetadata)
	}
	return checkTags(f.Tags, tagField)
}

func checkPatternFilter(f engram.PatternFilter, tagField string) error {
	if err := checkEnum("kind", f.Kind, engram.PatternKinds); err != nil {
		return err
	}
	if f.Tag == "" {
		return nil
	}
	return checkTags([]string{f.Tag}, func(int) string { return tagField })
}

func checkSearchKinds(kinds []engram.SearchKind, field func(i int) string) error {
	for i, k := range kinds {
		if err := checkEnum(field(i), k, searchKinds); err != nil {
			return err
		}
	}
	return nil
}

// indexed names the i-th element of a list field ("tags[2]"), or the i-th
// repeat of a query parameter ("tag[2]": the third tag=); i < 0 names the
// list.
func indexed(name string) func(i int) string {
	return func(i int) string {
		if i < 0 {
			return name
		}
		return fmt.Sprintf("%s[%d]", name, i)
	}
}
