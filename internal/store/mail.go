package store

// MailStore keeps email addresses, reset tokens and the mail outbox.
type MailStore interface{}
