<?php
// What every example needs (PHP 7.4+ with the curl extension: apt-get install php-cli php-curl):
// the API URL and credentials, and pushflow_call(), which sends one request and turns an error
// answer into readable lines. The credentials come from PUSHFLOW_API_URL, PUSHFLOW_APP_KEY and
// PUSHFLOW_SECRET when set, else from the demo.json `make up` writes, found as ../README.md says.

if (!function_exists('curl_init')) {
    fwrite(STDERR, "These examples need PHP's curl extension: apt-get install php-curl\n");
    exit(2);
}

function pushflow_demo_file(): ?string {
    if (getenv('PUSHFLOW_DEMO')) {
        return getenv('PUSHFLOW_DEMO');
    }
    if (getenv('PUSHFLOW_DATA_DIR')) {
        return getenv('PUSHFLOW_DATA_DIR') . '/demo.json';
    }
    foreach ([getcwd(), __DIR__] as $dir) {
        while (true) {
            if (is_file("$dir/.pushflow/demo.json")) {
                return "$dir/.pushflow/demo.json";
            }
            if (dirname($dir) === $dir) {
                break;
            }
            $dir = dirname($dir);
        }
    }
    return null;
}

/** [api URL, application key, secret]; exits with a message when there is no key. */
function pushflow_settings(): array {
    $path = pushflow_demo_file();
    if ($path !== null && !is_file($path)) {
        fwrite(STDERR, "$path does not exist\n");
        exit(2);
    }
    $demo = $path !== null ? json_decode(file_get_contents($path), true) : [];
    $settings = [
        getenv('PUSHFLOW_API_URL') ?: ($demo['apiUrl'] ?? 'http://127.0.0.1:8080'),
        getenv('PUSHFLOW_APP_KEY') ?: ($demo['applicationKey'] ?? ''),
        getenv('PUSHFLOW_SECRET') ?: ($demo['secret'] ?? ''),
    ];
    if ($settings[1] === '' || $settings[2] === '') {
        fwrite(STDERR, "No API key: run `make up` (it writes .pushflow/demo.json), or set"
            . " PUSHFLOW_APP_KEY and PUSHFLOW_SECRET (and PUSHFLOW_API_URL).\n");
        exit(2);
    }
    return $settings;
}

/** The API's JSON answer (raw); on an error answer, prints its errors on stderr and exits 1. */
function pushflow_call(string $method, string $path, ?array $body = null, array $headers = []): string {
    [$apiUrl, $appKey, $secret] = pushflow_settings();
    $ch = curl_init($apiUrl . $path);
    $headers = array_merge(["Authorization: $secret", "Application-Key: $appKey"], $headers);
    $options = [CURLOPT_CUSTOMREQUEST => $method, CURLOPT_RETURNTRANSFER => true, CURLOPT_TIMEOUT => 10];
    if ($body !== null) {
        $headers[] = 'Content-Type: application/json';
        $options[CURLOPT_POSTFIELDS] = json_encode($body);
    }
    curl_setopt_array($ch, $options + [CURLOPT_HTTPHEADER => $headers]);
    $answer = curl_exec($ch);
    if ($answer === false) {
        fwrite(STDERR, "Cannot reach the API at $apiUrl (" . curl_error($ch) . "): is `make up` running?\n");
        exit(1);
    }
    $status = curl_getinfo($ch, CURLINFO_RESPONSE_CODE);
    if ($status >= 200 && $status < 300) {
        return $answer;
    }
    $envelope = json_decode($answer, true);
    if (!is_array($envelope)) {
        fwrite(STDERR, "HTTP $status: " . substr($answer, 0, 500) . "\n");
        exit(1);
    }
    foreach ($envelope['errors'] ?? [] as $error) {
        $parameter = $error['meta']['parameter'] ?? null;
        $where = $parameter !== null ? " (parameter $parameter)" : '';
        fwrite(STDERR, "HTTP $status {$error['code']}: {$error['message']}$where\n");
    }
    fwrite(STDERR, "request id " . ($envelope['meta']['uniqId'] ?? '?') . "\n");
    exit(1);
}
