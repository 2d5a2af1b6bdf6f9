package bench

// Internal parts that the external tests check directly.
var (
	ParseWrk    = parseWrk
	NginxConfig = nginxConfig
)

var NginxStreamConfig = nginxStreamConfig
