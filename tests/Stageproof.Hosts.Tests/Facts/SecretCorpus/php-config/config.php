<?php
define('DB_HOST', 'localhost');
define('DB_USER', 'shop');
define('DB_PASSWORD', 'Sh0p-DB-pass');
define("STRIPE_SECRET", "sk_live_123");
$db_pass = 'Sh0p-DB-pass';
$config = [
    'database' => [
        'password' => 'Sh0p-DB-pass',
        'port'     => 3306,
    ],
];
$db['default']['password'] = 'Sh0p-DB-pass';
