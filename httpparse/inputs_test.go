package httpparse

// The inputs shared by the allocation tests, the benchmarks and the fuzz seeds.
const (
	// browserRequest is what a desktop browser sends for a page: about 500
	// bytes and 12 header fields.
	browserRequest = "GET /docs/index.html?lang=en HTTP/1.1\r\n" +
		"Host: www.example.com\r\n" +
		"Connection: keep-alive\r\n" +
		"Cache-Control: max-age=0\r\n" +
		"sec-ch-ua: \"Chromium\";v=\"124\"\r\n" +
		"sec-ch-ua-mobile: ?0\r\n" +
		"Upgrade-Insecure-Requests: 1\r\n" +
		"User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36\r\n" +
		"Accept: text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8\r\n" +
		"Sec-Fetch-Site: same-origin\r\n" +
		"Accept-Encoding: gzip, deflate, br\r\n" +
		"Accept-Language: en-US,en;q=0.9,fr;q=0.8\r\n" +
		"Cookie: session=4f2a9c1e7b; theme=dark\r\n" +
		"\r\n"
	curlRequest   = "GET /api/v1/users/42 HTTP/1.1\r\nHost: localhost:8080\r\nUser-Agent: curl/8.5.0\r\nAccept: */*\r\n\r\n"
	chunkedHead   = "POST /upload HTTP/1.1\r\nHost: api.example.com\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
	chunkedBody   = "1a\r\n{\"name\":\"torii\",\"id\":1234}\r\n10;ext=1\r\n, \"more\": \"data\"\r\n1\r\n}\r\n0\r\nX-Checksum: 99\r\n\r\n"
	responseHead  = "HTTP/1.1 200 OK\r\nServer: nginx/1.25.3\r\nDate: Fri, 27 Nov 2026 09:00:00 GMT\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: 5120\r\nConnection: keep-alive\r\nCache-Control: no-cache\r\nX-Request-Id: 7d3f0a9b-2c1e-4b8a-9f6d-1e2a3b4c5d6e\r\n\r\n"
	maxTestFields = 64
)
