package main

// The director daemon's status page: package view registers itself with
// director.RegisterPage, so `controller run` serves it at / on its metrics
// listener.
import _ "github.com/lvsnode/lvsnode/view"
