<?php
// Read a message and each dispatch's status: php status.php <messageId>   (needs php-curl)
// Prints the API's JSON answer (data[0].dispatches[].status); errors go to stderr, exit 1.
require __DIR__ . '/demo.php';
$messageId = $argv[1] ?? null;
if ($messageId === null) {
    fwrite(STDERR, "usage: php status.php MESSAGE_ID\n");
    exit(2);
}

echo pushflow_call('GET', '/v2.1/push/' . rawurlencode($messageId)), "\n";
