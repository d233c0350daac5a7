<?php
define( 'DB_NAME', 'wordpress' );
define( 'DB_USER', 'wp' );
define( 'DB_PASSWORD', 'Wp-DB-pass' );
define( 'DB_HOST', 'localhost' );
define( 'AUTH_KEY',         'put your unique phrase here' );
define( 'SECURE_AUTH_KEY',  'p9|x:Fz`;8QvA' );
define( 'NONCE_SALT',       'k~Nh!]c@' );
$table_prefix = 'wp_';
define( 'WP_DEBUG', false );
