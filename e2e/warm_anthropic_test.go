package e2e

import _ "github.com/anthropics/anthropic-sdk-go/v2"
