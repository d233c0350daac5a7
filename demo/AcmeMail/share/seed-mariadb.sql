-- acme-mail demo data for MariaDB (db.engine = mariadb): the same 50 users (user01..user50, password password-01..
-- password-50) and the same 20,000 messages as seed.sql makes on PostgreSQL, computed from the same md5 slices.
-- Idempotent: a user that exists is kept (a directory login may have made it), and messages are only added to an
-- empty messages table. The bcrypt hashes (cost 4, the least bcrypt allows) were made once with libxcrypt; acme-mail checks them itself.
-- Needs the schema (run acme-mail once, or `acme-mail --migrate`). Run either:   acme-mail --seed
--          or:   mariadb --host=... mail < /usr/share/acme-mail/seed-mariadb.sql

INSERT IGNORE INTO users (name, password_hash) VALUES
    ('user01', '$2b$04$acmemailseed.user01..eCKZelOzPs481oMctX9fmtwufoPEhrle'),
    ('user02', '$2b$04$acmemailseed.user02..ed3S56HSRp6W0QDVfqsz5BVMxAmIN60.'),
    ('user03', '$2b$04$acmemailseed.user03..eER4z0UNmI8BqPA78Ag2kft2/hfp.AGW'),
    ('user04', '$2b$04$acmemailseed.user04..etpjaDkh1j.KvYJBZJT0Lj5Vu7gYXNei'),
    ('user05', '$2b$04$acmemailseed.user05..ej.7RhUHTh7kiHKLD/mFyU/Wj8Qi9/w6'),
    ('user06', '$2b$04$acmemailseed.user06..ekvW4RJLC2HmwrUMfmaQkz5rClXyqRIy'),
    ('user07', '$2b$04$acmemailseed.user07..e9nIarOfqjtAfjExUsdmtX/O/Wr5wgfe'),
    ('user08', '$2b$04$acmemailseed.user08..e53oNyC7y.UTm3IZDNxbw5KN5.C9WLSC'),
    ('user09', '$2b$04$acmemailseed.user09..elm24khE7IbgStsCJrNoZ6Ui1wyI.kbC'),
    ('user10', '$2b$04$acmemailseed.user10..eP5hVgkEnE5atejChzc9NEiDbZyiCEqO'),
    ('user11', '$2b$04$acmemailseed.user11..emGTTPZ1TN06RFAFjgb9L3iWG3cdXuUq'),
    ('user12', '$2b$04$acmemailseed.user12..esO/C0r6liCCWTwdKBK8/r2ahNoC.HAm'),
    ('user13', '$2b$04$acmemailseed.user13..eqwZnn4K41AHmgw8LQl5FEKM4j6kUNP.'),
    ('user14', '$2b$04$acmemailseed.user14..edeOD4VOAtJPt9Eib9UpkUEiz38.ZnhG'),
    ('user15', '$2b$04$acmemailseed.user15..eQzg7cmet7cYjn.DK0cDByPc6TA0MMgq'),
    ('user16', '$2b$04$acmemailseed.user16..eJ4ZxCko4ORnYzWoGGSXz6YMSMfUi3mG'),
    ('user17', '$2b$04$acmemailseed.user17..e43/OeNlVNbyOfxTCVfxDDttcyPbSw2K'),
    ('user18', '$2b$04$acmemailseed.user18..eX9YM0hpgxT/PpPtLzdPoQGB7KbLz.YO'),
    ('user19', '$2b$04$acmemailseed.user19..ef0ioSSPObufftQn7riGd93uphdDkcrW'),
    ('user20', '$2b$04$acmemailseed.user20..esONvt7J35JVJekLkGUvoI0XBiEnTNEe'),
    ('user21', '$2b$04$acmemailseed.user21..ehrcJFBItmd6sremnYkIr8rtnN4ux.6.'),
    ('user22', '$2b$04$acmemailseed.user22..eUHKTAijMb1yq2jIu3xPmfnaG7ucMF92'),
    ('user23', '$2b$04$acmemailseed.user23..ecEgnXdcQjTue1HovBViuC1U.KSoveUm'),
    ('user24', '$2b$04$acmemailseed.user24..eLpTj.ITpXamie3mpxsvsgLPGwHizIWK'),
    ('user25', '$2b$04$acmemailseed.user25..e3ybOGs/AjHOSonUrMgFoH3LwAULCKqq'),
    ('user26', '$2b$04$acmemailseed.user26..eDqir9UYikrX19F1a5nARWnqQntFMD3W'),
    ('user27', '$2b$04$acmemailseed.user27..euqhYh4AQSZJwFJtBMTmM.bkBhPRQ65m'),
    ('user28', '$2b$04$acmemailseed.user28..eaL78iDcHL7j8IepXmTAcWzMGW49hA9.'),
    ('user29', '$2b$04$acmemailseed.user29..eTxkHVAE/PLOExK.0J190bFJu0ZNNwqS'),
    ('user30', '$2b$04$acmemailseed.user30..edo9me9adLkzVjqfMSTbFB3oOwdAf/RG'),
    ('user31', '$2b$04$acmemailseed.user31..eJAlO2yxgbFVKY/7MxoJxJdcUEixfW4m'),
    ('user32', '$2b$04$acmemailseed.user32..eTQJL2FMq.RsINiPvsO8LGLEQJ6bARUW'),
    ('user33', '$2b$04$acmemailseed.user33..e2/y3MesY.9VhdmiGveNRJsAH.CQfJcC'),
    ('user34', '$2b$04$acmemailseed.user34..ea3pp3dalyICzIKtsekkKDm8SOmbp4DW'),
    ('user35', '$2b$04$acmemailseed.user35..ejjLvBqknk.cgsfSgx6vBijtxrfXf1m2'),
    ('user36', '$2b$04$acmemailseed.user36..eXESaQxAGFtsREzV0nt8oT/kJxMVtNS.'),
    ('user37', '$2b$04$acmemailseed.user37..eD2SL83jW7Ys5/RhxEEc3BJxc6GSr87S'),
    ('user38', '$2b$04$acmemailseed.user38..egUeOXZhkb33MQYN4V6OxkdBAPW0L9z2'),
    ('user39', '$2b$04$acmemailseed.user39..egLjWcUVcXtSqgD2ZGrJhCuz6g5ppOw.'),
    ('user40', '$2b$04$acmemailseed.user40..ekHelvvfdgHd8BZtdTykEXvJ4SDdIGtS'),
    ('user41', '$2b$04$acmemailseed.user41..ebHXoCVJwRWtv9d12gQ61nZ4tQePg.2K'),
    ('user42', '$2b$04$acmemailseed.user42..elnPBvpm16xs4NMo3bXUjw6jX1ELQWvu'),
    ('user43', '$2b$04$acmemailseed.user43..eItwC0lzjVAOGF3OhxDqhwVLNQQ8Upxi'),
    ('user44', '$2b$04$acmemailseed.user44..e.Ls0LRxzVWbHq6XM4HEnylV9sJzW7Se'),
    ('user45', '$2b$04$acmemailseed.user45..eja8cxxccPZv7saaYDNNEvfx00QEX49W'),
    ('user46', '$2b$04$acmemailseed.user46..eX5Z2.VWx.LzZzC3buQllfLFnBKmAwra'),
    ('user47', '$2b$04$acmemailseed.user47..eydCXGcpdtfL.LTRb2K3pi7.7iU50yae'),
    ('user48', '$2b$04$acmemailseed.user48..eEG9smLM./U35bTfDr0bsdF/9vXcDNb6'),
    ('user49', '$2b$04$acmemailseed.user49..eb5Fd8oFjRQ6d8xqJpsg3TPK92WYqt8K'),
    ('user50', '$2b$04$acmemailseed.user50..eW7rpgMWI36tV9470NUxW2mgr.eysB/i');

-- Topics are uniform except 'invoice' (topic 1): 1 message in 100, a selective search term.
INSERT INTO messages (owner_id, sender, subject, body, sent_at)
SELECT u.id,
       CONCAT(
           ELT(1 + h.a % 16, 'alice', 'bob', 'carol', 'dave', 'erin', 'frank', 'grace', 'heidi', 'ivan', 'judy',
               'mallory', 'oscar', 'peggy', 'trent', 'victor', 'walter'),
           '@',
           ELT(1 + h.b % 4, 'example.com', 'acme.test', 'partner.example', 'vendor.example')),
       CONCAT(
           ELT(1 + h.c % 8, '', '', '', 'Re: ', 'Re: ', 'Fwd: ', 'Urgent: ', 'FYI: '),
           UPPER(LEFT(h.topic_d, 1)), SUBSTRING(h.topic_d, 2), ' ',
           ELT(1 + h.e % 15, 'for Q1', 'for Q2', 'for Q3', 'for Q4', 'next week', 'on Monday', 'on Friday', 'update',
               'draft', 'follow-up', 'reminder', 'summary', 'review', 'approval needed', 'results')),
       CONCAT('Hi User', LPAD(u.k + 1, 2, '0'), ', ',
           ELT(1 + h.f % 8, 'Please find the attached', 'Can we discuss the', 'I have updated the',
               'Quick question about the', 'Reminder: the', 'Thanks for sending the', 'We need to finalize the',
               'Here is the latest'), ' ', h.topic_d, ' ',
           ELT(1 + h.g % 8, 'before the deadline', 'with the finance team', 'in the staging environment',
               'after the maintenance window', 'for the board', 'with the new vendor', 'on the shared drive',
               'during the retrospective'), '. ',
           ELT(1 + h.b % 8, 'Let me know if anything is missing.', 'The numbers look better than last month.',
               'Production was not affected.', 'The cluster was upgraded overnight.', 'Lunch is on me.',
               'Please reply by end of day.', 'Nothing else changed.', 'See the ticket for details.'), ' ',
           CASE WHEN h.e % 7 = 0 THEN CONCAT('Also, the ', h.topic_f, ' is still open.') ELSE '' END,
           ' Regards, ',
           UPPER(LEFT(h.sender_name, 1)), SUBSTRING(h.sender_name, 2)),
       TIMESTAMP '2026-01-01 08:00:00' + INTERVAL (h.i * 23) MINUTE
FROM (
    SELECT r.*,
           ELT(CASE WHEN r.d % 100 = 0 THEN 1 ELSE 2 + r.d % 29 END, 'invoice', 'meeting', 'report', 'kubernetes',
               'deployment', 'budget', 'contract', 'outage', 'release', 'roadmap', 'security', 'patch', 'database',
               'migration', 'holiday', 'interview', 'offsite', 'backup', 'certificate', 'newsletter', 'expense',
               'onboarding', 'incident', 'audit', 'firewall', 'payroll', 'vendor', 'conference', 'training',
               'benchmark') AS topic_d,
           ELT(CASE WHEN r.f % 100 = 0 THEN 1 ELSE 2 + r.f % 29 END, 'invoice', 'meeting', 'report', 'kubernetes',
               'deployment', 'budget', 'contract', 'outage', 'release', 'roadmap', 'security', 'patch', 'database',
               'migration', 'holiday', 'interview', 'offsite', 'backup', 'certificate', 'newsletter', 'expense',
               'onboarding', 'incident', 'audit', 'firewall', 'payroll', 'vendor', 'conference', 'training',
               'benchmark') AS topic_f,
           ELT(1 + r.a % 16, 'alice', 'bob', 'carol', 'dave', 'erin', 'frank', 'grace', 'heidi', 'ivan', 'judy',
               'mallory', 'oscar', 'peggy', 'trent', 'victor', 'walter') AS sender_name
    FROM (
        -- Deterministic pseudo-random numbers per message: slices of md5(i), 28 bits each.
        SELECT s.i,
               CAST(CONV(SUBSTR(s.m, 1, 7), 16, 10) AS UNSIGNED) AS a,
               CAST(CONV(SUBSTR(s.m, 8, 7), 16, 10) AS UNSIGNED) AS b,
               CAST(CONV(SUBSTR(s.m, 15, 7), 16, 10) AS UNSIGNED) AS c,
               CAST(CONV(SUBSTR(s.m, 22, 7), 16, 10) AS UNSIGNED) AS d,
               CAST(CONV(SUBSTR(s.m, 26, 7), 16, 10) AS UNSIGNED) AS e,
               CAST(CONV(SUBSTR(s.m, 3, 7), 16, 10) AS UNSIGNED) AS f,
               CAST(CONV(SUBSTR(s.m, 19, 7), 16, 10) AS UNSIGNED) AS g
        FROM (
            SELECT i, MD5(i) AS m FROM (
                SELECT d0.n + 10 * d1.n + 100 * d2.n + 1000 * d3.n + 10000 * d4.n + 1 AS i
                FROM (SELECT 0 AS n UNION ALL SELECT 1 UNION ALL SELECT 2 UNION ALL SELECT 3 UNION ALL SELECT 4 UNION ALL SELECT 5 UNION ALL SELECT 6 UNION ALL SELECT 7 UNION ALL SELECT 8 UNION ALL SELECT 9) AS d0
                CROSS JOIN (SELECT 0 AS n UNION ALL SELECT 1 UNION ALL SELECT 2 UNION ALL SELECT 3 UNION ALL SELECT 4 UNION ALL SELECT 5 UNION ALL SELECT 6 UNION ALL SELECT 7 UNION ALL SELECT 8 UNION ALL SELECT 9) AS d1
                CROSS JOIN (SELECT 0 AS n UNION ALL SELECT 1 UNION ALL SELECT 2 UNION ALL SELECT 3 UNION ALL SELECT 4 UNION ALL SELECT 5 UNION ALL SELECT 6 UNION ALL SELECT 7 UNION ALL SELECT 8 UNION ALL SELECT 9) AS d2
                CROSS JOIN (SELECT 0 AS n UNION ALL SELECT 1 UNION ALL SELECT 2 UNION ALL SELECT 3 UNION ALL SELECT 4 UNION ALL SELECT 5 UNION ALL SELECT 6 UNION ALL SELECT 7 UNION ALL SELECT 8 UNION ALL SELECT 9) AS d3
                CROSS JOIN (SELECT 0 AS n UNION ALL SELECT 1 UNION ALL SELECT 2 UNION ALL SELECT 3 UNION ALL SELECT 4 UNION ALL SELECT 5 UNION ALL SELECT 6 UNION ALL SELECT 7 UNION ALL SELECT 8 UNION ALL SELECT 9) AS d4
            ) AS numbers
            WHERE i <= 20000
        ) AS s
    ) AS r
) AS h
JOIN (SELECT id, CAST(SUBSTRING(name, 5) AS UNSIGNED) - 1 AS k FROM users WHERE name REGEXP '^user[0-9]{2}$') AS u ON u.k = h.i % 50
WHERE NOT EXISTS (SELECT 1 FROM messages);
