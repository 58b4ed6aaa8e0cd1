module github.com/engramhq/engram

go 1.26.8
