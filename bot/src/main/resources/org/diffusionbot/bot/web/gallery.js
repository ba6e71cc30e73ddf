// The gallery's only script (served from the bot, allowed by script-src 'self'; the pages carry no
// inline script or event handler attributes). It wires the "Copy" buttons: data-copy names the id
// of the element whose text goes to the clipboard.
(function () {
  'use strict';

  function fallbackCopy(text) {
    var area = document.createElement('textarea');
    area.value = text;
    area.setAttribute('readonly', '');
    area.className = 'offscreen';
    document.body.appendChild(area);
    area.select();
    var ok = false;
    try {
      ok = document.execCommand('copy');
    } catch (e) {
      ok = false;
    }
    document.body.removeChild(area);
    return ok;
  }

  function done(button, ok) {
    var label = button.getAttribute('data-label') || button.textContent;
    button.setAttribute('data-label', label);
    button.textContent = ok ? 'Copied!' : 'Press Ctrl+C';
    button.classList.toggle('copied', ok);
    window.setTimeout(function () {
      button.textContent = label;
      button.classList.remove('copied');
    }, 2000);
  }

  function selectText(el) {
    var range = document.createRange();
    range.selectNodeContents(el);
    var sel = window.getSelection();
    sel.removeAllRanges();
    sel.addRange(range);
  }

  function wire(button) {
    button.addEventListener('click', function () {
      var source = document.getElementById(button.getAttribute('data-copy'));
      if (!source) {
        return;
      }
      var text = source.textContent;
      if (navigator.clipboard && window.isSecureContext) {
        navigator.clipboard.writeText(text).then(function () {
          done(button, true);
        }, function () {
          var ok = fallbackCopy(text);
          if (!ok) {
            selectText(source);
          }
          done(button, ok);
        });
      } else {
        var ok = fallbackCopy(text);
        if (!ok) {
          selectText(source);
        }
        done(button, ok);
      }
    });
  }

  document.addEventListener('DOMContentLoaded', function () {
    var buttons = document.querySelectorAll('button[data-copy]');
    for (var i = 0; i < buttons.length; i++) {
      wire(buttons[i]);
    }
  });
}());
