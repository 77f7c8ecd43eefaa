module github.com/seshat-go/seshat

go 1.26.0
