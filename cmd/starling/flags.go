package main

import (
	"flag"
	"fmt"
	"strings"
)

// parseFlags parses args into fs, then fills every flag not given on the
// command line from the environment variable STARLING_<NAME>.
func parseFlags(fs *flag.FlagSet, args []string, getenv func(string) string) error {
	if err := fs.Parse(args); err != nil {
		return err
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	var err error
	fs.VisitAll(func(f *flag.Flag) {
		if set[f.Name] || err != nil {
			return
		}
		env := envName(f.Name)
		if v := getenv(env); v != "" {
			if serr := fs.Set(f.Name, v); serr != nil {
				err = fmt.Errorf("%s: %w", env, serr)
			}
		}
	})
	if err == nil && fs.NArg() > 0 {
		err = fmt.Errorf("unexpected arguments: %s", strings.Join(fs.Args(), " "))
	}
	return err
}

// envName returns the environment variable of a flag: public-url ->
// STARLING_PUBLIC_URL.
func envName(flagName string) string {
	return "STARLING_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}
