package main

import "fmt"

func report() { fmt.Println("done") }
