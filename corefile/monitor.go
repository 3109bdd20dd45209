package corefile

import (
	"github.com/gtm-project/gtm/config"
)

// monitor reads "monitor NAME { protocol P; interval D; ... }" with the table
// of monitor options that config.Validate checks them against.
func (p *parser) monitor() (*config.Monitor, error) {
	pos := p.pos()
	name, err := p.arg("monitor", "NAME {")
	if err != nil {
		return nil, err
	}
	m := config.NewMonitor(pos, name)
	if !p.openBlock() {
		return nil, p.c.Errf("monitor '%s' needs a block: '{' expected at the end of the line", name)
	}
	err = p.body("monitor", name, &m.Props, config.RepeatableMonitorOptions(), func(prop string) error {
		o := config.LookupMonitorOption(prop)
		if o == nil {
			return p.c.Errf("unknown property '%s' in monitor '%s'", prop, name)
		}
		args, err := p.args(prop, o.Min, o.Max, o.Usage)
		if err != nil {
			return err
		}
		if err := o.Set(m, args); err != nil {
			return p.c.Errf("%v", err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return m, nil
}
