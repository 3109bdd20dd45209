package config

// ValidatePools checks pools that replace those of c with the same names, or
// join them, as one change. c passed Validate; pool looks up its pools by
// name and users lists the instances that use a pool. The change gets the
// rules Validate applies to pools, and the instances that use a changed
// pool are checked again against it (a pool that changes type breaks them),
// so that what passes compiles, without checking all of c again.
func (c *Config) ValidatePools(changed []*Pool, pool func(string) *Pool, users func(string) []*Instance) error {
	// Copies: checking marks monitors used, and c's own are shared with a
	// running configuration.
	monitors := make(map[string]*Monitor, len(c.Monitors))
	for _, m := range c.Monitors {
		cp := *m
		monitors[m.Name] = &cp
	}
	byName := make(map[string]*Pool, len(changed))
	for _, p := range changed {
		if prev, ok := byName[p.Name]; ok {
			return p.Errorf("duplicate pool '%s' (first defined at line %d)", p.Name, prev.Line)
		}
		byName[p.Name] = p
		if err := p.validate(); err != nil {
			return err
		}
		if err := p.checkMonitors(monitors); err != nil {
			return err
		}
	}
	lookup := func(name string) *Pool {
		if p := byName[name]; p != nil {
			return p
		}
		return pool(name)
	}
	for _, p := range changed {
		for _, in := range users(p.Name) {
			names := in.PoolNames()
			pools := make(map[string]*Pool, len(names))
			for _, n := range names {
				if q := lookup(n); q != nil {
					pools[n] = q
				}
			}
			if err := in.validate(c, pools, func(*Rule) {}); err != nil {
				return err
			}
		}
	}
	return nil
}
