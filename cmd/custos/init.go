package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/urfave/cli/v2"
	"go.yaml.in/yaml/v3"

	"github.com/custos-evidence/custos/agent/datadir"
)

// userConfigPath is the configuration file read when neither --config nor
// CUSTOS_CONFIG names one, if it exists: $XDG_CONFIG_HOME/custos/config.yaml,
// else ~/.config/custos/config.yaml. custos init writes it.
func userConfigPath(lookupEnv func(string) (string, bool)) string {
	if d, ok := lookupEnv("XDG_CONFIG_HOME"); ok && filepath.IsAbs(d) {
		return filepath.Join(d, "custos", "config.yaml")
	}
	if home, ok := lookupEnv("HOME"); ok && filepath.IsAbs(home) {
		return filepath.Join(home, ".config", "custos", "config.yaml")
	}
	return ""
}

// defaultConfigFile is the file g reads: --config or CUSTOS_CONFIG, else
// the user's configuration file when there is one.
func defaultConfigFile(g *globalOptions) string {
	if g.configFile != "" {
		return g.configFile
	}
	p := userConfigPath(os.LookupEnv)
	if p == "" {
		return ""
	}
	if _, err := os.Stat(p); err != nil {
		return ""
	}
	return p
}

type initOptions struct {
	AgentID      string
	Organization string
	Force        bool
}

func newInitCommand(g *globalOptions) *cli.Command {
	var opts initOptions
	return &cli.Command{
		Name:  "init",
		Usage: "write who acts and for which provider into the user's configuration file, once",
		Description: "Writes actor (from --actor), agent_id and disclosure.organization, and data_dir when\n" +
			"--data-dir is given, to $XDG_CONFIG_HOME/custos/config.yaml (else ~/.config/custos/config.yaml),\n" +
			"which every command then reads unless --config or CUSTOS_CONFIG names another file.",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "agent-id", Usage: "the log `ORIGIN`, unique to this deployment (e.g. custos.example.net/agent-1)", Destination: &opts.AgentID},
			&cli.StringFlag{Name: "organization", Usage: "the provider's `NAME`, as disclosure packages show it", Destination: &opts.Organization},
			&cli.BoolFlag{Name: "force", Usage: "replace an existing configuration file", Destination: &opts.Force},
		},
		Action: func(c *cli.Context) error {
			return runInit(c.Context, g, opts, c.Args().Slice())
		},
	}
}

func runInit(_ context.Context, g *globalOptions, opts initOptions, args []string) error {
	if len(args) != 0 {
		return argCountError("init", "", args)
	}
	if !g.actorSet || g.actor == "" {
		return usageErrorf("init: --actor NAME is required: the person or service recorded as acting in custody events")
	}
	if opts.AgentID != "" {
		if err := validNoteName(opts.AgentID); err != nil {
			return usageErrorf("init: --agent-id: %v", err)
		}
	}
	path := userConfigPath(os.LookupEnv)
	if path == "" {
		return usageErrorf("init: neither XDG_CONFIG_HOME nor HOME is an absolute path: no place for the configuration file")
	}
	type disclosureSection struct {
		Organization string `yaml:"organization"`
	}
	doc := struct {
		DataDir    string             `yaml:"data_dir,omitempty"`
		AgentID    string             `yaml:"agent_id,omitempty"`
		Actor      string             `yaml:"actor"`
		Disclosure *disclosureSection `yaml:"disclosure,omitempty"`
	}{AgentID: opts.AgentID, Actor: g.actor}
	if g.dataDirSet {
		abs, err := filepath.Abs(g.dataDir)
		if err != nil {
			return usageErrorf("init: --data-dir: %v", err)
		}
		doc.DataDir = abs
	}
	if opts.Organization != "" {
		doc.Disclosure = &disclosureSection{Organization: opts.Organization}
	}
	body, err := yaml.Marshal(doc)
	if err != nil {
		return err
	}
	body = append([]byte("# Written by custos init; configs/custos.example.yaml documents every key.\n"), body...)
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("init: %w", err)
	}
	if opts.Force {
		err = datadir.WriteFile(path, body, 0o600)
	} else {
		err = datadir.WriteNew(path, body, 0o600)
		if errors.Is(err, fs.ErrExist) {
			return usageErrorf("init: %s exists: edit it, or give --force to replace it", path)
		}
	}
	if err != nil {
		return fmt.Errorf("init: %w", err)
	}
	if opts.Organization == "" {
		g.notef("note: no --organization: packages will name the provider by the log origin")
	}
	if g.json() {
		return writeJSON(g.stdout, map[string]string{"config": path, "actor": g.actor})
	}
	_, err = fmt.Fprintf(g.stdout, "wrote %s: commands now act as %s\n", path, g.actor)
	return err
}
