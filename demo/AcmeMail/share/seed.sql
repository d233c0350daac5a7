-- acme-mail demo data: 50 users (user01..user50, password password-01..password-50) and 20,000 messages.
-- Idempotent: does nothing when the users table already has rows. Deterministic: the same rows every time.
-- Needs the schema (run acme-mail once, or `acme-mail --migrate`) and pgcrypto (created by V1).
-- Run either:   acme-mail --seed
--          or:   psql "host=... dbname=mail user=acme" -v ON_ERROR_STOP=1 -f /usr/share/acme-mail/seed.sql

WITH new_users AS (
    INSERT INTO users (name, password_hash)
    SELECT format('user%s', lpad(n::text, 2, '0')),
           -- bcrypt at its least cost: every login of the lab load checks pays it on the database server, and at cost 6
           -- it took a tenth of a busy lab machine (perf: _crypt_blowfish_rn in postgres, 7.7 % of all samples).
           crypt(format('password-%s', lpad(n::text, 2, '0')), gen_salt('bf', 4))
    FROM generate_series(1, 50) AS n
    WHERE NOT EXISTS (SELECT 1 FROM users)
    RETURNING id, name
),
numbered AS (
    SELECT id, row_number() OVER (ORDER BY name) - 1 AS k FROM new_users
),
words AS (
    SELECT
        ARRAY['invoice', 'meeting', 'report', 'kubernetes', 'deployment', 'budget', 'contract', 'outage',
              'release', 'roadmap', 'security', 'patch', 'database', 'migration', 'holiday', 'interview',
              'offsite', 'backup', 'certificate', 'newsletter', 'expense', 'onboarding', 'incident', 'audit',
              'firewall', 'payroll', 'vendor', 'conference', 'training', 'benchmark'] AS topic,
        ARRAY['', '', '', 'Re: ', 'Re: ', 'Fwd: ', 'Urgent: ', 'FYI: '] AS prefix,
        ARRAY['for Q1', 'for Q2', 'for Q3', 'for Q4', 'next week', 'on Monday', 'on Friday', 'update',
              'draft', 'follow-up', 'reminder', 'summary', 'review', 'approval needed', 'results'] AS suffix,
        ARRAY['alice', 'bob', 'carol', 'dave', 'erin', 'frank', 'grace', 'heidi', 'ivan', 'judy', 'mallory',
              'oscar', 'peggy', 'trent', 'victor', 'walter'] AS person,
        ARRAY['example.com', 'acme.test', 'partner.example', 'vendor.example'] AS domain,
        ARRAY['Please find the attached', 'Can we discuss the', 'I have updated the', 'Quick question about the',
              'Reminder: the', 'Thanks for sending the', 'We need to finalize the', 'Here is the latest'] AS opening,
        ARRAY['before the deadline', 'with the finance team', 'in the staging environment', 'after the maintenance window',
              'for the board', 'with the new vendor', 'on the shared drive', 'during the retrospective'] AS closing,
        ARRAY['Let me know if anything is missing.', 'The numbers look better than last month.',
              'Production was not affected.', 'The cluster was upgraded overnight.', 'Lunch is on me.',
              'Please reply by end of day.', 'Nothing else changed.', 'See the ticket for details.'] AS extra
)
INSERT INTO messages (owner_id, sender, subject, body, sent_at)
SELECT u.id,
       format('%s@%s', w.person[1 + h.a % 16], w.domain[1 + h.b % 4]),
       w.prefix[1 + h.c % 8] || initcap(w.topic[CASE WHEN h.d % 100 = 0 THEN 1 ELSE 2 + h.d % 29 END]) || ' ' || w.suffix[1 + h.e % 15],
       format('Hi %s, %s %s %s. %s %s Regards, %s',
              initcap(format('user%s', lpad((u.k + 1)::text, 2, '0'))),
              w.opening[1 + h.f % 8],
              w.topic[CASE WHEN h.d % 100 = 0 THEN 1 ELSE 2 + h.d % 29 END],
              w.closing[1 + h.g % 8],
              w.extra[1 + h.b % 8],
              CASE WHEN h.e % 7 = 0 THEN 'Also, the ' || w.topic[CASE WHEN h.f % 100 = 0 THEN 1 ELSE 2 + h.f % 29 END] || ' is still open.' ELSE '' END,
              initcap(w.person[1 + h.a % 16])),
       timestamptz '2026-01-01 08:00:00+00' + (h.i * interval '23 minutes')
FROM (
    -- Topics are uniform except 'invoice' (topic 1): 1 message in 100, a selective search term (the load checks
    -- search it), the case a full-text index is for.
    -- Deterministic pseudo-random numbers per message: slices of md5(i), 28 bits each.
    SELECT i,
           ('x' || substr(m, 1, 7))::bit(28)::int AS a, ('x' || substr(m, 8, 7))::bit(28)::int AS b,
           ('x' || substr(m, 15, 7))::bit(28)::int AS c, ('x' || substr(m, 22, 7))::bit(28)::int AS d,
           ('x' || substr(m, 26, 7))::bit(28)::int AS e, ('x' || substr(m, 3, 7))::bit(28)::int AS f,
           ('x' || substr(m, 19, 7))::bit(28)::int AS g
    FROM generate_series(1, 20000) AS i, md5(i::text) AS m
) AS h
JOIN numbered AS u ON u.k = h.i % 50
CROSS JOIN words AS w;
