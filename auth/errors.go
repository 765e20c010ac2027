package auth

import "errors"

// ErrAuth marks credentials a registry refused: a login or push that failed
// for them, whoever asked.
var ErrAuth = errors.New("registry authentication failed")

// ErrDenied marks a push the registry refused to valid credentials that
// lack access to the repository.
var ErrDenied = errors.New("the registry denied access")

// ErrUnchecked marks a check that could not reach a verdict: the registry
// could not be reached from here, or answered neither yes nor no. The push
// checks the credentials then.
var ErrUnchecked = errors.New("the credentials could not be checked before the push")
