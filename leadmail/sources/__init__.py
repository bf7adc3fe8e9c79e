"""Lead sources: their health (rolling figures and the drift alarm, `health`) and a draft rule
learned from sample mails (`learn`). Golden samples beside a rule are `leadmail.golden`."""
