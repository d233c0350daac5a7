-- acme-mail demo data for MariaDB (db.engine = mariadb): the same 50 users (user01..user50, password password-01..
-- password-50) and the same 20,000 messages as seed.sql makes on PostgreSQL, computed from the same md5 slices.
-- Idempotent: a user that exists is kept (a directory login may have made it), and messages are only added to an
-- empty messages table. The bcrypt hashes (cost 6) were made once with libxcrypt; acme-mail checks them itself.
-- Needs the schema (run acme-mail once, or `acme-mail --migrate`). Run either:   acme-mail --seed
--          or:   mariadb --host=... mail < /usr/share/acme-mail/seed-mariadb.sql

INSERT IGNORE INTO users (name, password_hash) VALUES
    ('user01', '$2b$06$acmemailseed.user01..er7bHVdFinl5.WAHTAHARpkKX.d0.KEm'),
    ('user02', '$2b$06$acmemailseed.user02..e7A6aCi8VbdGkQ8/dsgA8cEzbqQmSdHm'),
    ('user03', '$2b$06$acmemailseed.user03..eon/sBvE9cRCPhXGHRZpLbag1X4eOWsa'),
    ('user04', '$2b$06$acmemailseed.user04..ev8hw91ldhttfNk7CpldGS9fZ4WRd4Zy'),
    ('user05', '$2b$06$acmemailseed.user05..egbS51k5Pr6umDR0pWuZUXC0EWuFwr.y'),
    ('user06', '$2b$06$acmemailseed.user06..ewIQy7Xz8vfQlYDw/0iqoc6LuW.qfaP6'),
    ('user07', '$2b$06$acmemailseed.user07..erRncfce.t6TX2v/6AO8s/JNApIUkzb2'),
    ('user08', '$2b$06$acmemailseed.user08..e6wgWQl6TgJS0ShorVJu4iy21tf15Qwe'),
    ('user09', '$2b$06$acmemailseed.user09..e3aRAuMU8GPJIpvrYqHEjXXUi/1X/9CK'),
    ('user10', '$2b$06$acmemailseed.user10..e3Sx/WJD7MTdpKR76CLvPtitV6gBbQGq'),
    ('user11', '$2b$06$acmemailseed.user11..eZSHgRE0HrbtpQu3uhdbCs67Yux5sy9a'),
    ('user12', '$2b$06$acmemailseed.user12..eRAVf9bl2NIpzoE/ceBA86sxfYaHzYMi'),
    ('user13', '$2b$06$acmemailseed.user13..eR7rJMt7AiRFYf0U65yGAGNC/49mXxXy'),
    ('user14', '$2b$06$acmemailseed.user14..eFXp35rSqj8afomVYA5ThfS4ZPDwyWFC'),
    ('user15', '$2b$06$acmemailseed.user15..eQ94lqgUsA51MFMtmZiSu1wWzglK.cn.'),
    ('user16', '$2b$06$acmemailseed.user16..eR34m4nj/DNURkpisFaFQ0w5eMhDlxd6'),
    ('user17', '$2b$06$acmemailseed.user17..eWpP6efybPHuI1/0oiAv5Tr1f4PdgSmq'),
    ('user18', '$2b$06$acmemailseed.user18..eMlMBQ.KI8av1740HuT0DSEksCxgJ./2'),
    ('user19', '$2b$06$acmemailseed.user19..e2DtZbrzpHI8hGYatr87Jzxl2Ari76Z2'),
    ('user20', '$2b$06$acmemailseed.user20..e3e788vkuLWCbesXsXlPrZKyzr0svbCK'),
    ('user21', '$2b$06$acmemailseed.user21..eB81ssoFchPx5iFaSG1EA41tZZ4ris9S'),
    ('user22', '$2b$06$acmemailseed.user22..eXfK.PP0xk1SJtT7eT8YoymqOfhCaMt2'),
    ('user23', '$2b$06$acmemailseed.user23..ePFOb5OpkerBUQIsqvNPac8r7ey1qV7y'),
    ('user24', '$2b$06$acmemailseed.user24..e1QELB0WhdjIXh9OOLjNIyXKap/vqRnW'),
    ('user25', '$2b$06$acmemailseed.user25..eOskoSArp9bQk67IORQsNm9dT2G93DFu'),
    ('user26', '$2b$06$acmemailseed.user26..egXhUOwd7svKiuqOV5XegDnAWLWLSCxm'),
    ('user27', '$2b$06$acmemailseed.user27..egwWBBq4FyXdWqu3nsmIYT/gyTMaNWcy'),
    ('user28', '$2b$06$acmemailseed.user28..e1SDy53Qbf6xsgdL.oPWnKnF52ZU7gPC'),
    ('user29', '$2b$06$acmemailseed.user29..ep9.bZmmbV8rJJauob46m9NdFUd/fnJu'),
    ('user30', '$2b$06$acmemailseed.user30..emVhk4cKNcKz6mtImwqzvfU/UHkV7P4e'),
    ('user31', '$2b$06$acmemailseed.user31..ezy77fKd5tpK.JfUcqZ7/B6bnVDMHJ1W'),
    ('user32', '$2b$06$acmemailseed.user32..eOIXAdJvQ7oV/tBHLVNuFAO.SyAla3da'),
    ('user33', '$2b$06$acmemailseed.user33..eL9LkXy.I7hSs7oq.B5NauyNDngSxlLa'),
    ('user34', '$2b$06$acmemailseed.user34..e3.6Yj/6j.XFXE8/JHUTLljf9lKLI3cy'),
    ('user35', '$2b$06$acmemailseed.user35..exTSzQ9lZzE1kuxhTyeo/iyu73Geupz.'),
    ('user36', '$2b$06$acmemailseed.user36..e2RkILNGdoAPlw5Tm5qa5fXQDe7jB7iS'),
    ('user37', '$2b$06$acmemailseed.user37..eGovHvYHlqL/XxrGOI5mXDuKjmb18I5K'),
    ('user38', '$2b$06$acmemailseed.user38..e4ZXJF3I9VorISida6d/G4STXuoi9LVW'),
    ('user39', '$2b$06$acmemailseed.user39..ezLVa1/vhMKsANe2evKC.7q/DlA2RO..'),
    ('user40', '$2b$06$acmemailseed.user40..ed7mhzFch5MvmmFbHilt1Sm/8VxLRPEK'),
    ('user41', '$2b$06$acmemailseed.user41..e52fs0g94wKIJP0hCUx1x/kmIUeRFkjy'),
    ('user42', '$2b$06$acmemailseed.user42..epoIkkdT9fv5uJlkN7u.xlr6gXjV9VG.'),
    ('user43', '$2b$06$acmemailseed.user43..etd3lmeFwDOapn6qi48hyGyJ7Fsg9kua'),
    ('user44', '$2b$06$acmemailseed.user44..euBKDqgQCWiate2AYC3Pil.OiNwdQNR2'),
    ('user45', '$2b$06$acmemailseed.user45..esdfUskWr5yBKH4f8I9Nc1kCbtltCdfq'),
    ('user46', '$2b$06$acmemailseed.user46..exOD48sGMAG2Y7GStcFthhgfCrskF2UK'),
    ('user47', '$2b$06$acmemailseed.user47..eWxDR0ryVdoxaX/sOE21tA4tHRTsqba6'),
    ('user48', '$2b$06$acmemailseed.user48..eK73I8fE9cV2vHLEvCrXgFBa06n0IQtC'),
    ('user49', '$2b$06$acmemailseed.user49..eg.6Zbgp6CQzP7I8n1sjUVZOqoEBUqim'),
    ('user50', '$2b$06$acmemailseed.user50..edEtF.Qy9H3mXUuUuPlN.Wbq1QRqxM6a');

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
