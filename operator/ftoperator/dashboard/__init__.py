"""The read-only web dashboard: ``ftctl ui`` locally, the chart's ``dashboard`` Deployment on
the cluster (:mod:`.app` the pages, :mod:`.views` what they show, :mod:`.sources` where the
campaigns come from)."""
