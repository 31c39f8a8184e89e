-- Seats: how many people (members and pending invitations) a team
-- workspace on a plan may hold; the policy engine counts them. The plans
-- shipped with the server get their seats; a plan an admin already gave
-- seats keeps them, and one without any stays unlimited (up to the most a
-- team may hold).
UPDATE plans SET definition = jsonb_set(definition::jsonb, '{limits,seats}', '3')::text
WHERE key = 'free' AND definition::jsonb -> 'limits' -> 'seats' IS NULL;
UPDATE plans SET definition = jsonb_set(definition::jsonb, '{limits,seats}', '10')::text
WHERE key = 'pro' AND definition::jsonb -> 'limits' -> 'seats' IS NULL;
