"""The ClinicalTrials.gov poller: the registry itself as an upstream of change events.

`api` (the API v2 subset, pure), `events` (a record as a CloudEvent, pure),
`client` (HTTP: pacing, retries), `cursor` (where the poll stands, and the
lease that lets one poller at a time move it), `follow` (followed studies by
id), `poll` (one poll and the poller process).
"""
