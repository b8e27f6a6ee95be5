-- Parties saved since a time: what a kept resolution index has not seen.
CREATE INDEX parties_updated_at ON parties (updated_at);
