<?php
// Read a message and each dispatch's status: php status.php <messageId>
require __DIR__ . '/demo.php';
[$apiUrl, $appKey, $secret] = pushflow_settings();
$messageId = $argv[1] ?? exit("usage: php status.php MESSAGE_ID\n");

$ch = curl_init("$apiUrl/v2.1/push/" . rawurlencode($messageId));
curl_setopt_array($ch, [
    CURLOPT_RETURNTRANSFER => true,
    CURLOPT_HTTPHEADER => ["Authorization: $secret", "Application-Key: $appKey"],
]);
$envelope = json_decode(curl_exec($ch), true);
foreach ($envelope['data'][0]['dispatches'] ?? [] as $dispatch) {
    printf("%s %s %s\n", $dispatch['dispatchId'], $dispatch['platform'], $dispatch['status']);
}
