<?php
// Send a transactional push: php send.php <device token>   (needs php-cli and php-curl)
// Prints the API's JSON answer (data[0].messageId); errors go to stderr, readably, exit 1.
require __DIR__ . '/demo.php';
$token = $argv[1] ?? null;
if ($token === null) {
    fwrite(STDERR, "usage: php send.php DEVICE_TOKEN\n");
    exit(2);
}

echo pushflow_call('POST', '/v2.1/push', [
    'device_tokens' => [$token],
    'title' => 'Your code',
    'content' => '123456 is your code',
    'externalId' => 'example-2fa',
], [
    'Idempotency-Key: ' . bin2hex(random_bytes(16)),  // safe to retry: sent at most once
]), "\n";
